"""Mixed-modality batches under DeepSpeed ZeRO-3: every rank runs the same modules, in the same order, every step.

ZeRO-3 partitions each parameter across ranks and all-gathers a module's parameters when it runs (and again in the
backward pass), then reduce-scatters the gradients. Those are collectives: if one rank's batch has images and the
other's is text-only, only the first runs the vision tower, the ranks wait on different collectives and training
hangs. The same happens between an image batch and a video batch of a family whose images and videos go through the
vision tower in separate calls (Qwen2-VL: `get_image_features` and `get_video_features`).

`MediaBalancedTrainer` therefore runs, before the model's forward, one zero-weighted pass of a tiny blank image
through `get_image_features` when the batch has no images, and one of a tiny blank video through
`get_video_features` when the family takes videos and the batch has none. Every rank thus calls each media path once
per step (the real batch's own calls come after, in the model's forward, in the same order on every rank), and the
backward reaches the same parameters. The dummy term is `0 * sum(features)`: the loss and every gradient are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import Trainer

IMAGE_KEYS = ("pixel_values",)
VIDEO_KEYS = ("pixel_values_videos",)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):  # ModelOutput is a dict
        for v in value.values():
            yield from _tensors(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under DeepSpeed / DDP (`.module`) and PEFT (`get_base_model`) wrappers."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


class DummyMedia:
    """Blank media, preprocessed by the model's own processor, and the zero-weighted pass through the vision path."""

    def __init__(self, processor, takes_video: bool, side: int = 56, frames: int = 2):
        blank = Image.new("RGB", (side, side))
        self.image = dict(processor.image_processor(images=[blank], return_tensors="pt"))
        self.video: dict | None = None
        video_processor = getattr(processor, "video_processor", None)
        if takes_video and video_processor is not None:
            clip = np.zeros((frames, side, side, 3), np.uint8)
            self.video = dict(video_processor(videos=[clip], return_tensors="pt", do_sample_frames=False))

    @staticmethod
    def _call(fn, inputs: dict, device: torch.device) -> torch.Tensor:
        out = fn(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()})
        return sum((t.float().sum() for t in _tensors(out) if t.is_floating_point()), torch.zeros((), device=device))

    def term(self, model: torch.nn.Module, inputs: dict) -> torch.Tensor | None:
        """0 * (vision features of the blank media) for each media kind the batch lacks; None if it lacks none."""
        base = unwrap(model)
        device = next((v.device for v in inputs.values() if isinstance(v, torch.Tensor)), torch.device("cpu"))
        total = None
        if not any(inputs.get(k) is not None for k in IMAGE_KEYS):
            total = self._call(base.get_image_features, self.image, device)
        if self.video is not None and not any(inputs.get(k) is not None for k in VIDEO_KEYS):
            video = self._call(base.get_video_features, self.video, device)
            total = video if total is None else total + video
        return None if total is None else total * 0.0


class MediaBalancedTrainer(Trainer):
    """HF Trainer whose every step runs each media path of the model once more when the batch lacks that medium."""

    def __init__(self, *args, dummy_media: DummyMedia, **kwargs):
        super().__init__(*args, **kwargs)
        self.dummy_media = dummy_media

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        dummy = self.dummy_media.term(model, inputs)  # before the forward: same call order on every rank
        result = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                      num_items_in_batch=num_items_in_batch)  # fmt: skip
        if dummy is None:
            return result
        if return_outputs:
            loss, outputs = result
            return loss + dummy.to(loss.dtype), outputs
        return result + dummy.to(result.dtype)


def is_zero3(deepspeed: str | dict | None) -> bool:
    """Whether a DeepSpeed config (path or dict) selects ZeRO stage 3."""
    if not deepspeed:
        return False
    if isinstance(deepspeed, str):
        import json
        from pathlib import Path

        deepspeed = json.loads(Path(deepspeed).read_text())
    return int((deepspeed.get("zero_optimization") or {}).get("stage", 0)) == 3
