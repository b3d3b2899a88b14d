"""The HF Trainer with our training-step options: packed batches (per-sample positions from the model's own rope
function), chunked supervised-only cross-entropy, and length-grouped sampling from measured sample lengths."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from components.loss import model_loss


class LmmsTrainer(Trainer):
    def __init__(
        self, *args, chunked_loss: bool = False, loss_chunk_size: int = 256, lengths: Sequence[int] | None = None, **kw
    ):
        super().__init__(*args, **kw)
        self.chunked_loss, self.loss_chunk_size = chunked_loss, loss_chunk_size
        self.lengths = list(lengths) if lengths is not None else None

    def _get_train_sampler(self, train_dataset=None):
        if self.lengths is None:
            return super()._get_train_sampler(train_dataset)
        return LengthGroupedSampler(
            self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=self.lengths
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # Mean over the micro-batch's supervised tokens, or sum / num_items_in_batch where the Trainer expects that
        # (models that accept loss kwargs), exactly as the model's own loss would be reduced.
        num_items = num_items_in_batch if self.model_accepts_loss_kwargs else None
        loss, outputs = model_loss(model, inputs, self.chunked_loss, self.loss_chunk_size, num_items)
        return (loss, outputs) if return_outputs else loss
