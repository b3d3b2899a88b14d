"""Packing is exact: a packed batch gives the same loss and gradients as the same samples padded (fp32, 1e-5)."""

from __future__ import annotations

import dataclasses
import inspect
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from components.artifacts import Sample
from components.data.collator import IGNORE_INDEX, VLMCollator
from components.data.rows import to_messages
from components.models.catalog import FAMILIES
from components.models.loading import ModelRef, load_model, load_processor
from components.train.loss import model_loss
from components.train.packing import (
    PackingCollator,
    next_fit,
    pad_fraction,
    prepare_packed_inputs,
    rope_index_owner,
    supervised_tokens,
)

PACKING = [f for f in ("qwen2_vl", "qwen2_5_vl", "llava", "llava_onevision") if FAMILIES[f].packing]
REL = 1e-5


def row(turns, images=0, videos=0, seed=0):
    rng = np.random.RandomState(seed)
    sample = Sample(
        0, None, None, list(turns), [f"{k}.png" for k in range(images)], [f"{k}.mp4" for k in range(videos)]
    )
    sizes = [(56, 56), (84, 56), (56, 112)]
    return {
        "messages": to_messages(sample),
        "images": [
            Image.fromarray(rng.randint(0, 255, (*sizes[k % 3][::-1], 3), dtype=np.uint8)) for k in range(images)
        ],
        "videos": [rng.randint(0, 255, (4, 56, 56, 3), dtype=np.uint8) for _ in range(videos)],
    }


def rows_for(family: str) -> list[dict]:
    rows = [
        row([("user", "<image>\nWhat color is the shape?"), ("assistant", "red")], images=1, seed=1),
        row([("user", "Repeat the word: blue"), ("assistant", "blue blue blue and the answer is blue")], seed=2),
        row(
            [
                ("user", "<image>\n<image>\nWhich image is red?"),
                ("assistant", "the first"),
                ("user", "why"),
                ("assistant", "because the shape in it is red and the other one is green"),
            ],
            images=2 if FAMILIES[family].multi_image else 1,
            seed=3,
        ),
    ]
    if FAMILIES[family].video:
        rows.append(
            row([("user", "<video>\nWhich way does the square move?"), ("assistant", "left")], videos=1, seed=4)
        )
    return rows


def test_next_fit_keeps_order():
    assert next_fit([3, 4, 2, 5], None) == [0, 0, 0, 0]
    assert next_fit([3, 4, 2, 5], 7) == [0, 0, 1, 1]
    assert next_fit([9, 1], 4) == [0, 1]  # a sample longer than the budget gets a row of its own


def grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family", PACKING)
@pytest.mark.parametrize("chunked", [False, True])
def test_packed_equals_unpacked(family, chunked, tiny_path, one_thread):
    path = str(tiny_path(family))
    torch.manual_seed(0)
    model = dataclasses.replace(ModelRef.from_path(path), attn_implementation="sdpa").load_model(torch.float32)
    model.eval()  # no dropout: both passes must see the same function
    processor = load_processor(path)
    collator = VLMCollator(processor)
    rows = rows_for(family)

    padded = collator(rows)
    packed = PackingCollator(collator)(rows)
    assert packed["input_ids"].shape[0] == 1 and pad_fraction(packed) == 0.0
    assert pad_fraction(padded) > 0.0
    assert supervised_tokens(packed) == supervised_tokens(padded)
    # per-sample positions restart at every sample boundary
    starts = torch.cumsum(packed["packed_seq_lens"], 0)[:-1]
    assert (packed["position_ids"][0, starts] == 0).all()

    results = []
    for batch in (padded, packed):
        model.zero_grad()
        loss, _ = model_loss(model, dict(batch), chunked=chunked, chunk_size=7)
        loss.backward()
        results.append((loss.detach(), grads(model)))
    (lu, gu), (lp, gp) = results
    assert torch.isfinite(lu)
    assert abs(lp - lu) <= REL * abs(lu), (lp.item(), lu.item())
    assert gu.keys() == gp.keys() and len(gu) > 10
    total = torch.cat([g.flatten() for g in gu.values()]).norm()
    diff = torch.cat([(gp[n] - gu[n]).flatten() for n in gu]).norm()
    assert diff <= REL * total, (diff / total).item()
    for name in gu:
        # Per tensor too; the floor covers gradients that are zero in exact arithmetic (attention key biases:
        # softmax ignores a shift) and hold only rounding noise.
        assert (gp[name] - gu[name]).norm() <= REL * max(gu[name].norm(), 1e-3 * total), name


@pytest.mark.parametrize("family", [f for f in ("qwen2_vl", "qwen2_5_vl") if f in PACKING])
def test_mrope_positions_are_per_sample(family, tiny_path):
    """Qwen's 3-D positions of each packed sample equal those the model computes for it alone."""
    path = str(tiny_path(family))
    model, _ = load_model(path, dtype=torch.float32)
    collator = VLMCollator(load_processor(path))
    rows = rows_for(family)
    packed = prepare_packed_inputs(model, PackingCollator(collator)(rows))
    pos = packed["position_ids"]
    assert pos.shape == (4, 1, packed["input_ids"].shape[1])
    s = 0
    for r in rows:
        alone = collator([r])
        expect, _ = model.model.get_rope_index(
            alone["input_ids"],
            mm_token_type_ids=alone["mm_token_type_ids"],
            image_grid_thw=alone.get("image_grid_thw"),
            video_grid_thw=alone.get("video_grid_thw"),
            second_per_grid_ts=alone.get("second_per_grid_ts"),
        )
        n = alone["input_ids"].shape[1]
        assert torch.equal(pos[1:, 0, s : s + n], expect[:, 0])
        assert torch.equal(pos[0, 0, s : s + n], torch.arange(n))
        s += n


@pytest.mark.parametrize("family", ["hunyuan_vl", "minicpmv4_7"])
def test_rope_positions_equal_the_unpacked_batch(family, tiny_path):
    """Any `get_rope_index` (HunYuan-VL: 4 axes and image_grid_thw; MiniCPM-V 4.7: target_sizes) gets each packed
    sample the positions the model gives it in the unpacked batch, behind the text positions."""
    path = str(tiny_path(family))
    model, _ = load_model(path, dtype=torch.float32)
    collator = VLMCollator(load_processor(path))
    rows = rows_for(family)
    padded = collator(rows)
    owner = rope_index_owner(model)
    params = inspect.signature(owner.get_rope_index).parameters
    expect, _ = owner.get_rope_index(
        padded["input_ids"], **{k: v for k, v in padded.items() if k in params and k != "input_ids"}
    )
    pos = prepare_packed_inputs(model, PackingCollator(collator)(rows))["position_ids"]
    assert pos.shape == (1 + expect.shape[0], 1, int(padded["attention_mask"].sum()))
    s = 0
    for b, n in enumerate(padded["attention_mask"].sum(1).tolist()):
        assert torch.equal(pos[1:, 0, s : s + n], expect[:, b, :n])
        assert torch.equal(pos[0, 0, s : s + n], torch.arange(n))
        s += n


class _StubCollator:
    """Two samples (3 and 2 tokens) with a per-token tensor of extra dimensions (Mllama's cross_attention_mask); the
    Collator interface (components/data/collator.py) with a stub processor."""

    processor, tokenizer, pad_token_id = None, SimpleNamespace(pad_token_id=0), 0

    def __call__(self, rows):
        mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
        return {
            "input_ids": torch.tensor([[5, 6, 7], [8, 9, 0]]),
            "attention_mask": mask,
            "labels": torch.tensor([[5, 6, 7], [8, 9, IGNORE_INDEX]]),
            "cross_attention_mask": torch.arange(24).reshape(2, 3, 1, 4) * mask[:, :, None, None],
        }


def test_packing_keeps_extra_dimensions_of_per_token_tensors():
    rows = [{"images": [], "videos": []}] * 2
    packed = PackingCollator(_StubCollator())(rows)
    cross = torch.arange(24).reshape(2, 3, 1, 4)
    assert packed["cross_attention_mask"].shape == (1, 5, 1, 4)
    assert torch.equal(packed["cross_attention_mask"][0], torch.cat([cross[0], cross[1, :2]]))
    assert packed["input_ids"].tolist() == [[5, 6, 7, 8, 9]] and packed["position_ids"].tolist() == [[0, 1, 2, 0, 1]]


def test_token_budget_rows(tiny_path):
    path = str(tiny_path("qwen2_vl"))
    collator = VLMCollator(load_processor(path))
    rows = rows_for("qwen2_vl")
    lengths = collator(rows)["attention_mask"].sum(1).tolist()
    budget = max(lengths[0] + lengths[1], max(lengths))
    packed = PackingCollator(collator, max_tokens=budget)(rows)
    assert packed["input_ids"].shape[0] == max(next_fit(lengths, budget)) + 1 > 1
    assert packed["input_ids"].shape[1] <= budget
    assert int(packed["packed_seq_lens"].sum()) == sum(lengths)
    # padding carries no labels
    for r in range(packed["input_ids"].shape[0]):
        used = int(packed["packed_seq_lens"][packed["packed_rows"] == r].sum())
        assert (packed["labels"][r, used:] == IGNORE_INDEX).all()


def test_train_with_packing_chunked_loss_and_length_groups(tmp_path, tiny_path, one_thread):
    """The Trainer path: packing + chunked loss + length-grouped batches train, log finite losses and save."""
    from components.config import parse_config
    from components.train.recipe import RowsDataset, train

    rng = np.random.RandomState(0)
    imgs = {f"{k}.png": Image.fromarray(rng.randint(0, 255, (56, 56, 3), dtype=np.uint8)) for k in range(4)}
    samples = [
        Sample(
            i,
            None,
            None,
            [("user", "<image>\nWhat color?" if i % 2 else "Say it"), ("assistant", "red " * (1 + i))],
            [f"{i % 4}.png"] if i % 2 else [],
        )
        for i in range(8)
    ]
    ds = RowsDataset(samples, imgs.__getitem__, lambda p: pytest.fail("no videos here"))
    cfg = parse_config(
        {
            "model": {"model_id": str(tiny_path("qwen2_vl")), "family": None, "tiny": False},
            "train": {
                "max_steps": 2,
                "per_device_batch_size": 4,
                "packing": True,
                "chunked_loss": True,
                "group_by_length": True,
                "logging_steps": 1,
                "eval_each_epoch": False,
                "precision": "fp32",
            },
        }
    )
    res = train(cfg, cfg.model.model_id, ds, None, tmp_path / "out")
    losses = [h["loss"] for h in res.log_history if "loss" in h]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert (res.checkpoint / "adapter_config.json").exists()
