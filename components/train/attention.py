"""Attention for packed rows on PyTorch's SDPA: one causal call per sample instead of one masked call per row.

With padding-free packing (components.train.packing) transformers confines attention to each sample through a
block-diagonal causal mask built from the position ids. Under `sdpa` that mask is dense: a packed row of L tokens costs
L x L scores whatever its samples, where flash-attention 2 takes the varlen path and costs only each sample's own
square. `packed_sdpa` is registered with transformers' public attention and mask interfaces (`AttentionInterface`,
`AttentionMaskInterface`): it receives exactly the mask `sdpa` would, and where that mask is block-diagonal causal (read
from the mask itself, checked exactly) it runs `sdpa_attention_forward` once per block with `is_causal=True`. Any other
mask (padding, bidirectional media spans, sliding windows, a cache) goes to `sdpa_attention_forward` unchanged, so the
results are those of `sdpa` in every case, up to floating-point summation order.

A run that packs switches a model running on `sdpa` to it (`use_packed_sdpa`); flash-attention, flex attention and
eager are left as they are.
The name lives only in the training process: configs saved by `save_pretrained` do not record the attention
implementation, so checkpoints load anywhere as usual.
"""

from __future__ import annotations

import weakref

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

PACKED_SDPA = "packed_sdpa"


def block_causal_segments(mask: torch.Tensor | None) -> list[list[tuple[int, int]]] | None:
    """Per row, the (start, end) blocks of a boolean [rows, 1, L, L] mask that is exactly block-diagonal causal (each
    token sees the earlier tokens of its own block, nothing else); None for any other mask."""
    if mask is None or mask.dtype != torch.bool or mask.dim() != 4 or mask.shape[1] != 1:
        return None
    rows, _, q, k = mask.shape
    if q != k or q < 2:
        return None
    m = mask[:, 0]
    idx = torch.arange(q, device=mask.device)
    starts = torch.ones(rows, q, dtype=torch.bool, device=mask.device)
    starts[:, 1:] = ~m[:, idx[1:], idx[:-1]]  # a block starts where a token does not see the one before it
    block = starts.cumsum(-1)
    expected = (block[:, :, None] == block[:, None, :]) & (idx[None, :] <= idx[:, None])
    if not torch.equal(m, expected):
        return None
    out = []
    for r in range(rows):
        at = starts[r].nonzero().flatten().tolist() + [q]
        out.append(list(zip(at[:-1], at[1:], strict=True)))
    return out


class _LastMask:
    """Every decoder layer of one forward gets the same mask tensor: its blocks are read once. The mask is held weakly
    (on a GPU a packed row's dense mask can be hundreds of MB)."""

    mask: weakref.ref | None = None
    segments: list | None = None


def packed_sdpa_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    if attention_mask is not None and _LastMask.mask is not None and _LastMask.mask() is attention_mask:
        segments = _LastMask.segments
    else:
        segments = block_causal_segments(attention_mask)
        _LastMask.mask = weakref.ref(attention_mask) if attention_mask is not None else None
        _LastMask.segments = segments
    if segments is None or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    kwargs["is_causal"] = True
    rows = []
    for r, blocks in enumerate(segments):
        parts = [
            sdpa_attention_forward(
                module, query[r : r + 1, :, s:e], key[r : r + 1, :, s:e], value[r : r + 1, :, s:e], None, **kwargs
            )[0]
            for s, e in blocks
        ]
        rows.append(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
    return (torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]), None


AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention_forward)
AttentionMaskInterface.register(PACKED_SDPA, sdpa_mask)


def _implementations(config) -> list:
    """The attention implementation of a config and of every sub-config under it."""
    out = [config._attn_implementation]
    for key in getattr(config, "sub_configs", {}):
        sub = getattr(config, key, None)
        if sub is not None:
            out += _implementations(sub)
    return out


def use_packed_sdpa(model) -> str:
    """Switch a model that runs on `sdpa` throughout (transformers' default, or asked for) to `packed_sdpa`, through
    transformers' `set_attn_implementation`; any other attention (flash-attention, flex, eager) is kept. Returns the
    implementation the model runs on."""
    if set(_implementations(model.config)) == {"sdpa"}:
        model.set_attn_implementation(PACKED_SDPA)
    return model.config._attn_implementation
