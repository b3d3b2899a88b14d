"""`packed_sdpa` (components/train/attention.py): the attention of sdpa, one causal call per packed sample."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import create_causal_mask, sdpa_mask

from components.models.loading import load_model
from components.train.attention import (
    PACKED_SDPA,
    block_causal_segments,
    packed_sdpa_attention_forward,
    use_packed_sdpa,
)


def packed_positions(rows: list[list[int]], width: int) -> torch.Tensor:
    """Position ids of packed rows (sample lengths per row); padding continues the last sample, as PackingCollator."""
    out = torch.zeros(len(rows), width, dtype=torch.long)
    for r, lengths in enumerate(rows):
        s = 0
        for n in lengths:
            out[r, s : s + n] = torch.arange(n)
            s += n
        out[r, s:] = torch.arange(width - s) + out[r, s - 1] + 1
    return out


def transformers_mask(position_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **config) -> torch.Tensor:
    """The mask transformers builds for these positions, as a model on packed_sdpa gets it."""
    cfg = AutoConfig.for_model("qwen2", **config)
    cfg._attn_implementation = PACKED_SDPA
    rows, width = position_ids.shape
    return create_causal_mask(
        config=cfg,
        inputs_embeds=torch.zeros(rows, width, 8),
        attention_mask=attention_mask,
        past_key_values=None,
        position_ids=position_ids,
    )


class Attn(torch.nn.Module):
    """What sdpa_attention_forward reads from an attention module (GQA: 4 query heads on 2 key/value heads)."""

    is_causal = True
    num_key_value_groups = 2


def qkv(rows: int, width: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(rows, 4, width, 16, generator=g, requires_grad=True)
    k = torch.randn(rows, 2, width, 16, generator=g, requires_grad=True)
    v = torch.randn(rows, 2, width, 16, generator=g, requires_grad=True)
    return q, k, v


def test_blocks_of_a_packed_mask_are_its_samples():
    pos = packed_positions([[5, 3, 4], [7, 2]], width=14)  # padding (2 and 5 tokens) continues the last sample
    mask = transformers_mask(pos)
    assert mask.dtype == torch.bool and mask.shape == (2, 1, 14, 14)
    assert block_causal_segments(mask) == [[(0, 5), (5, 8), (8, 14)], [(0, 7), (7, 14)]]


def test_any_other_mask_is_not_split():
    width = 10
    pos = packed_positions([[4, 6]], width)
    assert block_causal_segments(None) is None
    # padding (an unpacked batch): padded positions see nothing of their own
    padding = torch.ones(2, width, dtype=torch.long)
    padding[1, 7:] = 0
    assert block_causal_segments(transformers_mask(torch.arange(width)[None].expand(2, -1), padding)) is None
    # a sliding window inside a sample
    window = sdpa_mask(
        batch_size=1,
        q_length=width,
        kv_length=width,
        mask_function=lambda b, h, q, kv: (kv <= q) & (q - kv < 3),
        allow_is_causal_skip=False,
    )
    assert block_causal_segments(window) is None
    # media tokens attending both ways (Gemma 3): not causal inside the block
    block = transformers_mask(pos).clone()
    block[0, 0, 1, 2] = True
    assert block_causal_segments(block) is None
    # a float mask, a mask per head, a non-square (cached) mask
    assert block_causal_segments(transformers_mask(pos).float()) is None
    assert block_causal_segments(transformers_mask(pos).expand(1, 4, width, width)) is None
    assert block_causal_segments(transformers_mask(pos)[:, :, 3:]) is None


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_packed_rows_give_what_sdpa_gives(dropout):
    """Outputs and gradients equal sdpa on the dense block mask (fp32); dropout goes through to sdpa."""
    pos = packed_positions([[5, 3, 4], [7, 2, 3]], width=14)
    mask = transformers_mask(pos)
    outs, grads = [], []
    for fn in (sdpa_attention_forward, packed_sdpa_attention_forward):
        q, k, v = qkv(2, 14)
        torch.manual_seed(0)
        out, _ = fn(Attn(), q, k, v, mask, dropout=dropout, scaling=0.25)
        out.square().sum().backward()
        outs.append(out)
        grads.append(torch.cat([t.grad.flatten() for t in (q, k, v)]))
    assert outs[0].shape == outs[1].shape == (2, 14, 4, 16)
    if dropout:  # different random masks: only the shape and scale can agree
        assert outs[1].isfinite().all()
        return
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    # as a whole: a block's first query sees one key, so its gradient is 0 in exact arithmetic and rounding noise here
    assert (grads[1] - grads[0]).norm() <= 1e-6 * grads[0].norm()


def test_other_masks_go_to_sdpa_unchanged():
    padding = torch.ones(2, 9, dtype=torch.long)
    padding[0, 6:] = 0
    mask = transformers_mask(torch.arange(9)[None].expand(2, -1), padding)
    q, k, v = qkv(2, 9)
    ref, _ = sdpa_attention_forward(Attn(), q, k, v, mask)
    out, _ = packed_sdpa_attention_forward(Attn(), q, k, v, mask)
    assert torch.equal(out, ref)
    ref, _ = sdpa_attention_forward(Attn(), q, k, v, None)  # no mask at all: causal through is_causal
    out, _ = packed_sdpa_attention_forward(Attn(), q, k, v, None)
    assert torch.equal(out, ref)


def test_a_model_on_sdpa_switches_and_its_checkpoint_does_not_say_so(tiny_path, tmp_path):
    model, _ = load_model(str(tiny_path("qwen2_vl")), dtype=torch.float32, attn_implementation="sdpa")
    assert use_packed_sdpa(model) == PACKED_SDPA
    assert model.config.text_config._attn_implementation == PACKED_SDPA
    model.save_pretrained(tmp_path / "saved")
    assert PACKED_SDPA not in (tmp_path / "saved" / "config.json").read_text()
    json.loads((tmp_path / "saved" / "config.json").read_text())
    reloaded, _ = load_model(str(tmp_path / "saved"), dtype=torch.float32)
    assert reloaded.config._attn_implementation == "sdpa"
    # eager (or flash-attention, flex) is kept as asked
    eager, _ = load_model(str(tiny_path("qwen2_vl")), dtype=torch.float32, attn_implementation="eager")
    assert use_packed_sdpa(eager) == "eager"
