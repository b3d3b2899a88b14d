"""Mixed-modality batches under DeepSpeed ZeRO-3: every rank runs the same modules, in the same order, every step.

ZeRO-3 partitions each parameter across ranks and all-gathers a module's parameters when it runs (and again in the
backward pass), then reduce-scatters the gradients. Those are collectives, matched by order across ranks: if one
rank's batch has images and another's is text-only, only the first runs the vision tower between the token embedding
and the decoder layers, the ranks wait on different collectives, and training hangs. The same happens between an image
batch and a video batch of a family whose images and videos go through the vision tower in separate calls (Qwen2-VL).

`MediaBalancingCollator` therefore appends one dummy row to every batch that lacks a medium: a one-word conversation
with a blank image (and, for families with video, a blank 2-frame video) for each missing kind, encoded by the same
processor and collator. Its labels are all masked, so it adds no supervised token: the loss (a mean over supervised
tokens) and the gradients are those of the real rows, while every rank runs the image path and the video path inside
the model's forward, at the same place, in every step. The dummy row is its own sequence (its own attention mask), so
the real rows never attend to it.

The recipe wraps its collator in it whenever the run's ZeRO stage is 3 (`TrainConfig.zero_stage`). Packing is refused
with ZeRO-3 when the config is validated: the packed layout (components/train/packing.py) does not count the dummy row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from components.data.batching import fill_value, pad_cat
from components.data.collator import IGNORE_INDEX, Collator

IMAGE_KEYS = ("pixel_values",)
VIDEO_KEYS = ("pixel_values_videos",)


def merge_batches(batch: dict, extra: dict, pad_token_id: int) -> dict:
    """`batch` followed by `extra` (both collator outputs, right-padded): per-token tensors are padded to the longer
    length and stacked; media tensors are concatenated along their first dimension (in row order)."""
    n, m = batch["input_ids"].shape[0], extra["input_ids"].shape[0]
    out = dict(batch)
    for key, value in extra.items():
        if not isinstance(value, torch.Tensor):
            continue
        if value.dim() >= 2 and value.shape[:2] == extra["input_ids"].shape:  # per token (one row each)
            out[key] = pad_cat([batch.get(key), value], fill_value(key, pad_token_id), [n, m])
        else:  # media (one entry per image, patch, frame, ...): a kind `batch` lacks is the dummy's alone
            out[key] = pad_cat([batch.get(key), value], 0, [0, len(value)])
    return out


class MediaBalancingCollator:
    """Wraps a collator (any `components.data.collator.Collator`): a batch without images (or, for video families,
    without videos) gets a masked dummy row carrying the missing media, so that every rank runs the vision path(s) in
    every step."""

    def __init__(self, collator: Collator, takes_video: bool, side: int = 56, frames: int = 2):
        self.collator = collator
        self.processor, self.tokenizer = collator.processor, collator.tokenizer  # the Collator interface, passed on
        self.pad_token_id = collator.pad_token_id
        self.takes_video = takes_video and getattr(self.processor, "video_processor", None) is not None
        self.image = Image.new("RGB", (side, side))
        self.video = np.zeros((frames, side, side, 3), np.uint8)

    def dummy_row(self, image: bool, video: bool) -> dict:
        content = ([{"type": "image"}] if image else []) + ([{"type": "video"}] if video else [])
        content.append({"type": "text", "text": "."})
        return {
            "index": "dummy",
            "messages": [
                {"role": "user", "content": content},
                {"role": "assistant", "content": [{"type": "text", "text": "."}]},
            ],
            "images": [self.image] if image else [],
            "videos": [self.video] if video else [],
        }

    def __call__(self, rows: Sequence[dict]) -> dict:
        batch = self.collator(rows)
        missing_image = not any(batch.get(k) is not None for k in IMAGE_KEYS)
        missing_video = self.takes_video and not any(batch.get(k) is not None for k in VIDEO_KEYS)
        if not (missing_image or missing_video):
            return batch
        extra = self.collator([self.dummy_row(missing_image, missing_video)])
        extra["labels"] = torch.full_like(extra["labels"], IGNORE_INDEX)
        return merge_batches(batch, extra, self.pad_token_id)
