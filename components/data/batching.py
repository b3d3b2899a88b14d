"""One processor call per batch, except where the processor cannot take images and videos together.

Some processors (SmolVLM) write image and video pixels to the same output key (`pixel_values`), so a batch that mixes
image rows and video rows loses one modality and the model then finds more media tokens than features. Such batches
are processed as two groups (video rows, the rest) and merged row by row: every tensor is right-padded to the largest
shape (input ids with the pad id, everything else with zeros, which is how these processors pad a row with fewer
images themselves) and the rows are put back in their original order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def shares_media_keys(processor) -> bool:
    """True when the processor's image and video processors produce an output key in common."""
    img, vid = getattr(processor, "image_processor", None), getattr(processor, "video_processor", None)
    if img is None or vid is None:
        return False
    return bool(set(getattr(img, "model_input_names", ())) & set(getattr(vid, "model_input_names", ())))


def _media_kwargs(rows: Sequence[dict]) -> dict:
    kwargs: dict = {}
    if any(r.get("images") for r in rows):
        kwargs["images"] = [list(r.get("images") or []) for r in rows]
    if any(r.get("videos") for r in rows):
        kwargs["videos"] = [v for r in rows for v in (r.get("videos") or [])]
        kwargs["do_sample_frames"] = False
    return kwargs


def _pad_cat(parts: list[torch.Tensor | None], sizes: list[int], pad: int | float) -> torch.Tensor:
    ref = next(p for p in parts if p is not None)
    shape = [max(p.shape[d] for p in parts if p is not None) for d in range(1, ref.dim())]
    out = []
    for p, n in zip(parts, sizes, strict=True):
        full = torch.full((n, *shape), pad, dtype=ref.dtype)
        if p is not None:
            full[tuple(slice(0, s) for s in p.shape)] = p
        out.append(full)
    return torch.cat(out)


def process_batch(processor, texts: list[str], rows: Sequence[dict], add_special: bool) -> dict:
    """The processor's batch for `texts` (one per row) with the rows' images and videos."""

    def call(idx: list[int]) -> dict:
        sub = [rows[i] for i in idx]
        return dict(
            processor(
                text=[texts[i] for i in idx],
                padding=True,
                padding_side="right",
                return_tensors="pt",
                add_special_tokens=add_special,
                **_media_kwargs(sub),
            )
        )

    everything = list(range(len(rows)))
    video = [i for i in everything if rows[i].get("videos")]
    rest = [i for i in everything if i not in video]
    if not (video and any(rows[i].get("images") for i in rest) and shares_media_keys(processor)):
        return call(everything)
    groups = [rest, video]
    batches = [call(g) for g in groups]
    pad_id = processor.tokenizer.pad_token_id or 0
    order = torch.tensor([i for g in groups for i in g]).argsort()
    merged = {}
    for key in dict.fromkeys(k for b in batches for k in b):
        parts = [b.get(key) for b in batches]
        pad = pad_id if key == "input_ids" else 0
        merged[key] = _pad_cat(parts, [len(g) for g in groups], pad)[order]
    return merged
