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

IGNORE_INDEX = -100  # label of a position that carries no loss


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


def pad_id(tokenizer) -> int:
    """The id padded positions hold: the tokenizer's pad token, else its EOS, else 0. Padding is masked out of
    attention (or follows the last sample, in packed rows) and out of the loss, so any valid id does."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return tid
    return 0


def fill_value(key: str, pad_token_id: int) -> int:
    """What padding holds in a batch tensor: the pad id in input ids, IGNORE_INDEX in labels, 0 anywhere else."""
    return {"input_ids": pad_token_id, "labels": IGNORE_INDEX}.get(key, 0)


def pad_cat(parts: Sequence[torch.Tensor | None], pad: int | float, sizes: Sequence[int] | None = None) -> torch.Tensor:
    """`parts` right-padded with `pad` to the largest shape in every dimension after the first, then concatenated
    along the first, in the first part's dtype. A missing part (None) becomes `sizes[i]` rows of `pad`."""
    ref = next(p for p in parts if p is not None)
    shape = [max(p.shape[d] for p in parts if p is not None) for d in range(1, ref.dim())]
    out = []
    for i, p in enumerate(parts):
        full = torch.full((p.shape[0] if p is not None else sizes[i], *shape), pad, dtype=ref.dtype)
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
    pad_token_id = pad_id(processor.tokenizer)
    order = torch.tensor([i for g in groups for i in g]).argsort()
    merged = {}
    for key in dict.fromkeys(k for b in batches for k in b):
        parts = [b.get(key) for b in batches]
        merged[key] = pad_cat(parts, fill_value(key, pad_token_id), [len(g) for g in groups])[order]
    return merged
