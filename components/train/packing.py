"""Padding-free packing for VLMs.

`PackingCollator` wraps a collator (`components.data.collator.Collator`, the generic `VLMCollator` in the recipe): the
processor expands media for the whole batch in one call, then every sample's unpadded tokens are laid end to end in one
row (or, with a token budget, in as few rows as a next-fit pass in sample order gives; order is kept so media stay in
the order the processor produced them). Each sample's position ids restart at 0 and its first label is masked, so no
token is ever predicted across a sample boundary. Packing is refused with ZeRO-3 (components/config.py): the layout
counts media per input row (`packed_media`), which misses the masked dummy row MediaBalancingCollator appends there.

Attention is confined to each sample through the position-id resets, with no attention mask: transformers builds a
block-diagonal causal mask from them on sdpa/eager (`find_packed_sequence_indices`) and takes the varlen path
(`cu_seqlens` from the position ids) under flash-attention 2. Families with 3-D M-RoPE (Qwen2-VL, Qwen2.5-VL) get
their positions from the model's own `get_rope_index`, called per sample before the rows are joined; the text-only
positions are stacked in front (`[4, rows, tokens]`), which is the format those models read as packed.

The model's rope function is only reachable from the model, so the collator leaves the layout in the batch
(`packed_seq_lens`, `packed_rows`, `packed_media`) and `prepare_packed_inputs(model, batch)` turns it into position
ids in the training step (`components.train.trainer.LmmsTrainer`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from components.data.batching import fill_value, pad_cat
from components.data.collator import IGNORE_INDEX, Collator

LAYOUT_KEYS = ("packed_seq_lens", "packed_rows", "packed_media")


def next_fit(lengths: Sequence[int], max_tokens: int | None) -> list[int]:
    """Row index of each sample, in order: a new row starts when the next sample would pass `max_tokens`."""
    rows, used, row = [], 0, 0
    for n in lengths:
        if max_tokens is not None and used and used + n > max_tokens:
            row, used = row + 1, 0
        rows.append(row)
        used += n
    return rows


class PackingCollator:
    """Rows {"messages", "images", "videos"} -> packed rows with per-sample positions and no padding between
    samples (rows of a multi-row pack are right-padded to the longest)."""

    def __init__(self, collator: Collator, max_tokens: int | None = None):
        self.collator = collator
        self.processor, self.tokenizer = collator.processor, collator.tokenizer  # the Collator interface, passed on
        self.pad_token_id = collator.pad_token_id
        self.max_tokens = max_tokens

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = self.collator(rows)
        ids = batch["input_ids"]
        lengths = batch.pop("attention_mask").sum(dim=1).tolist()
        row_of = next_fit(lengths, self.max_tokens)
        n_rows = row_of[-1] + 1
        members = [[b for b, r in enumerate(row_of) if r == row] for row in range(n_rows)]
        # Each row: its samples' unpadded tokens end to end; rows right-padded to the widest.
        for k, v in list(batch.items()):
            if isinstance(v, torch.Tensor) and v.shape[:2] == ids.shape:
                joined = [torch.cat([v[b, : lengths[b]] for b in bs])[None] for bs in members]
                batch[k] = pad_cat(joined, fill_value(k, self.pad_token_id))
        width = batch["input_ids"].shape[1]
        positions = torch.zeros(n_rows, width, dtype=torch.long)
        for r, bs in enumerate(members):
            s = 0
            for b in bs:
                batch["labels"][r, s] = IGNORE_INDEX  # never predict a sample's first token from the previous sample
                positions[r, s : s + lengths[b]] = torch.arange(lengths[b])
                s += lengths[b]
            # padding continues the last sample's positions: it sees that sample, nothing sees it
            positions[r, s:] = torch.arange(width - s) + (positions[r, s - 1] + 1)
        batch["position_ids"] = positions
        batch["packed_seq_lens"] = torch.tensor(lengths, dtype=torch.long)
        batch["packed_rows"] = torch.tensor(row_of, dtype=torch.long)
        batch["packed_media"] = torch.tensor(
            [[len(r.get("images") or []), len(r.get("videos") or [])] for r in rows], dtype=torch.long
        )
        return batch


def rope_index_owner(model: nn.Module) -> nn.Module | None:
    """The submodule that owns the model's M-RoPE `get_rope_index` (Qwen2-VL family), or None (1-D RoPE)."""
    for m in model.modules():
        if callable(getattr(type(m), "get_rope_index", None)):
            return m
    return None


def is_packed(batch: dict) -> bool:
    return "packed_seq_lens" in batch


def prepare_packed_inputs(model: nn.Module, batch: dict) -> dict:
    """Drop the layout keys and, for M-RoPE models, replace the 1-D positions by `[4, rows, tokens]`: text
    positions, then the model's own 3-D positions computed for each sample on its own."""
    if not is_packed(batch):
        return batch
    batch = dict(batch)
    seq_lens, rows, media = (batch.pop(k).tolist() for k in LAYOUT_KEYS)
    owner = rope_index_owner(model)
    if owner is None:
        return batch
    text_pos = batch["position_ids"]
    ids, types = batch["input_ids"], batch["mm_token_type_ids"]
    grids = {"image_grid_thw": batch.get("image_grid_thw"), "video_grid_thw": batch.get("video_grid_thw")}
    seconds = batch.get("second_per_grid_ts")
    mrope = torch.zeros(3, *ids.shape, dtype=torch.long, device=ids.device)
    cursor = [0] * ids.shape[0]
    done = {"image_grid_thw": 0, "video_grid_thw": 0}
    for n, r, (n_img, n_vid) in zip(seq_lens, rows, media, strict=True):
        s = cursor[r]
        kwargs = {}
        for key, count in (("image_grid_thw", n_img), ("video_grid_thw", n_vid)):
            if count:
                kwargs[key] = grids[key][done[key] : done[key] + count]
        if seconds is not None and n_vid:
            kwargs["second_per_grid_ts"] = seconds[done["video_grid_thw"] : done["video_grid_thw"] + n_vid]
        done["image_grid_thw"] += n_img
        done["video_grid_thw"] += n_vid
        pos, _ = owner.get_rope_index(
            ids[r : r + 1, s : s + n], mm_token_type_ids=types[r : r + 1, s : s + n], **kwargs
        )
        mrope[:, r, s : s + n] = pos[:, 0]
        cursor[r] += n
    for r in range(ids.shape[0]):  # padding: continue the last sample's positions, as for the text positions
        pad = ids.shape[1] - cursor[r]
        if pad:
            mrope[:, r, cursor[r] :] = mrope[:, r, cursor[r] - 1 : cursor[r]].max() + 1 + torch.arange(pad)
    batch["position_ids"] = torch.cat([text_pos[None].to(mrope.device), mrope], dim=0)
    return batch


def sample_lengths(dataset, collator: Collator) -> list[int]:
    """Exact token count of every sample (one collator call each, media from wherever the dataset reads them)."""
    return [int(collator([dataset[i]])["input_ids"].shape[1]) for i in range(len(dataset))]


def pad_fraction(batch: dict) -> float:
    """Share of the batch's token slots that hold padding (no sample)."""
    ids = batch["input_ids"]
    if is_packed(batch):
        real = int(batch["packed_seq_lens"].sum())
    else:
        real = int(batch["attention_mask"].sum())
    return 1.0 - real / ids.numel()


def supervised_tokens(batch: dict) -> int:
    """Tokens that carry a loss (labels shifted by one, as the causal LM loss reads them)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
