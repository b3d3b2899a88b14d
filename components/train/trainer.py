"""The HF Trainer with our training-step options: packed batches (per-sample positions from the model's own rope
function), chunked supervised-only cross-entropy, and length-grouped sampling from measured sample lengths."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from components.train.loss import model_loss


def media_kinds(dataset) -> list[str]:
    """ "video" or "other" per row of a RowsDataset (its samples carry their media lists)."""
    return ["video" if s.videos else "other" for s in dataset.samples]


class MediaGroupedSampler(torch.utils.data.Sampler):
    """Indices in batches of one media kind: rows are shuffled within their kind, cut into batches of `batch_size`
    (a kind's last batch is topped up with rows of the same kind, repeated if the kind has fewer rows than a batch, so
    every batch is full and none straddles two kinds: the data loader cuts the index stream every `batch_size`), and the
    batches are shuffled. For models that cannot take image and video rows in one batch."""

    def __init__(self, kinds: Sequence[str], batch_size: int, seed: int = 0, shuffle: bool = True):
        self.kinds, self.batch_size, self.seed, self.shuffle, self.epoch = list(kinds), batch_size, seed, shuffle, 0

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        out = []
        for kind in sorted(set(self.kinds)):
            idx = [i for i, k in enumerate(self.kinds) if k == kind]
            if self.shuffle:
                rng.shuffle(idx)
            for start in range(0, len(idx), self.batch_size):
                batch = idx[start : start + self.batch_size]
                out.append(batch + [idx[j % len(idx)] for j in range(self.batch_size - len(batch))])
        if self.shuffle:
            rng.shuffle(out)
        return out

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches():
            yield from batch

    def __len__(self) -> int:
        return sum(len(b) for b in self.batches())


class LmmsTrainer(Trainer):
    def __init__(
        self,
        *args,
        chunked_loss: bool = False,
        loss_chunk_size: int = 256,
        lengths: Sequence[int] | None = None,
        group_media: bool = False,
        **kw,
    ):
        super().__init__(*args, **kw)
        self.chunked_loss, self.loss_chunk_size = chunked_loss, loss_chunk_size
        self.lengths = list(lengths) if lengths is not None else None
        self.group_media = group_media

    def _get_eval_sampler(self, eval_dataset):
        if self.group_media:
            return MediaGroupedSampler(media_kinds(eval_dataset), self.args.eval_batch_size, shuffle=False)
        return super()._get_eval_sampler(eval_dataset)

    def _get_train_sampler(self, train_dataset=None):
        if self.group_media:  # takes precedence over length grouping: a mixed batch would not run at all
            ds = train_dataset if train_dataset is not None else self.train_dataset
            return MediaGroupedSampler(media_kinds(ds), self._train_batch_size, self.args.seed)
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
        if num_items is not None and self.args.average_tokens_across_devices:
            # num_items_in_batch is summed over every process: each rank's loss is its share of the global sum, and
            # DDP / DeepSpeed average the gradients over the ranks, so scale back up, as Trainer.compute_loss does
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        return (loss, outputs) if return_outputs else loss
