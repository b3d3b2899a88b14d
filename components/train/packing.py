"""Padding-free packing for VLMs.

`PackingCollator` wraps a collator (`components.data.collator.Collator`, the generic `VLMCollator` in the recipe): the
processor expands media for the whole batch in one call, then every sample's unpadded tokens are laid end to end in one
row (or, with a token budget, in as few rows as a next-fit pass in sample order gives; order is kept so media stay in
the order the processor produced them). Each sample's position ids restart at 0 and its first label is masked, so no
token is ever predicted across a sample boundary. Packing is refused with ZeRO-3 (components/config.py): the layout
counts media per input row (`packed_media`), which misses the masked dummy row MediaBalancingCollator appends there.

Attention is confined to each sample through the position-id resets, with no attention mask: transformers builds a
block-diagonal causal mask from them on sdpa/eager (`find_packed_sequence_indices`) and takes the varlen path
(`cu_seqlens` from the position ids) under flash-attention 2. Families with multimodal RoPE (Qwen2-VL to Qwen3-VL,
GLM-4.xV, HunYuan-VL, MiniCPM-V 4.7) get their positions from the model's own `get_rope_index`, called on the samples
laid out one per row as in an unpacked batch; the text-only positions are stacked in front (`[1 + axes, rows,
tokens]`), which is the format those models read as packed.

The model's rope function is only reachable from the model, so the collator leaves the layout in the batch
(`packed_seq_lens`, `packed_rows`, `packed_media`) and `prepare_packed_inputs(model, batch)` turns it into position
ids in the training step (`components.train.trainer.LmmsTrainer`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from components.config import TrainConfig
from components.data.batching import fill_value, pad_cat
from components.data.collator import IGNORE_INDEX, Collator
from components.models.family import Family

LAYOUT_KEYS = ("packed_seq_lens", "packed_rows", "packed_media")


@dataclass(frozen=True)
class Batching:
    """How a run forms its batches, resolved from `train.packing` / `train.group_by_length` and the family.

    mode: `packed` (padding-free rows), `length_grouped` (padded to the longest row of batches of similar length),
    `media_grouped` (padded, batches of one media kind: a family without mixed-media batches that does not pack) or
    `padded` (padded to the longest row of the batch, in data order); reason: why, in words (logged by the run)."""

    mode: str
    packing: bool
    group_by_length: bool
    reason: str


def packing_off_reason(fam: Family) -> str:
    """Why a family cannot pack: the `Packing off: ...` part of its notes (families/*.py), else all its notes."""
    notes = fam.notes or ""
    at = notes.find("Packing off")
    return (notes[at:] if at >= 0 else notes).strip() or "(no reason given in its entry)"


def resolve_batching(cfg: TrainConfig, fam: Family) -> Batching:
    """The batching a run of `fam` uses under `cfg`. `packing: auto` packs where the family can and ZeRO-3 is off,
    else falls back to length-grouped batches (`group_by_length: auto`); `packing: true` on a family that cannot
    pack is a ValueError naming the family and its reason."""
    if cfg.packing is True and not fam.packing:
        raise ValueError(
            f"train.packing: true, but family {fam.name} cannot pack: {packing_off_reason(fam)} Set train.packing: "
            "auto (length-grouped batches for this family) or false."
        )
    if cfg.packing is False:
        pack, reason = False, "train.packing: false"
    elif cfg.packing is True:
        pack, reason = True, "train.packing: true"
    elif not fam.packing:
        pack, reason = False, f"train.packing: auto, and family {fam.name} cannot pack ({packing_off_reason(fam)})"
    elif cfg.zero_stage == 3:
        pack, reason = False, "train.packing: auto, and DeepSpeed ZeRO-3 is on (its dummy media rows are not packed)"
    else:
        pack, reason = True, f"train.packing: auto, and family {fam.name} packs"
    group = (not pack) if cfg.group_by_length == "auto" else bool(cfg.group_by_length)
    if not fam.mixed_media_batches:  # batches of one media kind come first (trainer.MediaGroupedSampler)
        group = False
        if not pack:
            reason += f"; family {fam.name} takes one media kind per batch"
            return Batching("media_grouped", False, False, reason)
    mode = "packed" if pack else "length_grouped" if group else "padded"
    return Batching(mode, pack, group, reason)


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


def _unpack(t: torch.Tensor, spans: list[tuple[int, int, int]], width: int) -> torch.Tensor:
    """A packed per-token tensor back to one right-padded row per sample (spans: row, start, length)."""
    out = t.new_zeros((len(spans), width, *t.shape[2:]))
    for b, (r, s, n) in enumerate(spans):
        out[b, :n] = t[r, s : s + n]
    return out


def prepare_packed_inputs(model: nn.Module, batch: dict) -> dict:
    """Drop the layout keys and, for M-RoPE models, replace the 1-D positions by `[1 + axes, rows, tokens]`: text
    positions, then the model's own multimodal positions of each sample. Those come from one call of the model's
    `get_rope_index` on the samples laid out again one per row (right-padded, with an attention mask), given every
    batch input it takes (`image_grid_thw`, `target_sizes`, ...): exactly the positions of the unpacked batch, for any
    signature and any number of axes."""
    if not is_packed(batch):
        return batch
    batch = dict(batch)
    seq_lens, rows, _ = (batch.pop(k).tolist() for k in LAYOUT_KEYS)
    owner = rope_index_owner(model)
    if owner is None:
        return batch
    ids, text_pos = batch["input_ids"], batch["position_ids"]
    spans, cursor = [], [0] * ids.shape[0]
    for n, r in zip(seq_lens, rows, strict=True):
        spans.append((r, cursor[r], n))
        cursor[r] += n
    width = max(seq_lens)
    kwargs = {}
    for name in inspect.signature(owner.get_rope_index).parameters:
        value = batch.get(name)
        if name in ("input_ids", "attention_mask") or not isinstance(value, torch.Tensor):
            continue
        kwargs[name] = _unpack(value, spans, width) if value.shape[:2] == ids.shape else value
    mask = (torch.arange(width, device=ids.device)[None] < torch.tensor(seq_lens, device=ids.device)[:, None]).long()
    pos, _ = owner.get_rope_index(_unpack(ids, spans, width), attention_mask=mask, **kwargs)
    mrope = torch.zeros(pos.shape[0], *ids.shape, dtype=torch.long, device=ids.device)
    for b, (r, s, n) in enumerate(spans):
        mrope[:, r, s : s + n] = pos[:, b, :n]
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
