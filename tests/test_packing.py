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
from components.config import parse_config
from components.data.collator import IGNORE_INDEX, VLMCollator
from components.data.rows import to_messages
from components.models.catalog import FAMILIES
from components.models.loading import ModelRef, load_model, load_processor, upstream_bugs
from components.models.tiny.build import recipe_for
from components.train.attention import PACKED_SDPA, use_packed_sdpa
from components.train.loss import model_loss
from components.train.packing import (
    Batching,
    PackingCollator,
    next_fit,
    pad_fraction,
    prepare_packed_inputs,
    resolve_batching,
    rope_index_owner,
    supervised_tokens,
)

# Every family that declares it packs and has a tiny checkpoint: these pack by default (train.packing: auto).
PACKING = sorted(f for f, fam in FAMILIES.items() if fam.packing and recipe_for(f) is not None)
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
    """Image, text-only and multi-image rows (two images where the family takes several), and a video row where the
    family takes video."""
    n_multi = 2 if FAMILIES[family].multi_image else 1
    rows = [
        row([("user", "<image>\nWhat color is the shape?"), ("assistant", "red")], images=1, seed=1),
        row([("user", "Repeat the word: blue"), ("assistant", "blue blue blue and the answer is blue")], seed=2),
        row(
            [
                ("user", "<image>\n" * n_multi + "Which image is red?"),
                ("assistant", "the first"),
                ("user", "why"),
                ("assistant", "because the shape in it is red and the other one is green"),
            ],
            images=n_multi,
            seed=3,
        ),
    ]
    if FAMILIES[family].video:
        rows.append(
            row([("user", "<video>\nWhich way does the square move?"), ("assistant", "left")], videos=1, seed=4)
        )
    return rows


def batches_for(family: str) -> list[list[dict]]:
    """The rows of `rows_for` as the trainer would batch them: all in one batch, or, for a family that cannot take
    image and video rows in one batch, the video row with the text-only row in a batch of its own."""
    rows = rows_for(family)
    if FAMILIES[family].mixed_media_batches:
        return [rows]
    video = [r for r in rows if r["videos"]]
    return [[r for r in rows if not r["videos"]]] + ([[video[0], rows[1]]] if video else [])


def test_next_fit_keeps_order():
    assert next_fit([3, 4, 2, 5], None) == [0, 0, 0, 0]
    assert next_fit([3, 4, 2, 5], 7) == [0, 0, 1, 1]
    assert next_fit([9, 1], 4) == [0, 1]  # a sample longer than the budget gets a row of its own


def grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_every_packing_family_is_tested():
    """The packed == unpacked test covers the catalog, not a hand-picked list: every family without a note saying why
    it cannot pack."""
    assert len(PACKING) >= 25
    assert {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava", "llava_onevision", "idefics3", "glm4v"} <= set(PACKING)
    for f, fam in FAMILIES.items():
        assert fam.packing or "Packing off" in fam.notes, f"{f}: packing=False without the reason in its notes"


def assert_same(unpacked, packed):
    (lu, gu), (lp, gp) = unpacked, packed
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


@pytest.mark.parametrize("family", PACKING)
def test_packed_equals_unpacked(family, tiny_path, one_thread):
    """Loss and gradients of every parameter, packed against padded, with the model's own loss (full logits) and the
    chunked loss, fp32, rel 1e-5. The packed batch runs on the attention a packed run trains with (`packed_sdpa`
    where the model is on sdpa throughout), the padded one on sdpa."""
    path = str(tiny_path(family))
    torch.manual_seed(0)
    model = dataclasses.replace(ModelRef.from_path(path), attn_implementation="sdpa").load_model(torch.float32)
    model.eval()  # no dropout: both passes must see the same function
    packed_attn = use_packed_sdpa(model)  # the attention a packed training run uses: unpacked runs on plain sdpa
    collator = VLMCollator(load_processor(path))
    for rows in batches_for(family):
        padded = collator(rows)
        packed = PackingCollator(collator)(rows)
        assert packed["input_ids"].shape[0] == 1 and pad_fraction(packed) == 0.0
        assert pad_fraction(padded) > 0.0
        assert supervised_tokens(packed) == supervised_tokens(padded)
        # per-sample positions restart at every sample boundary
        starts = torch.cumsum(packed["packed_seq_lens"], 0)[:-1]
        assert (packed["position_ids"][0, starts] == 0).all()
        for chunked in (False, True):
            results = []
            for batch, attn in ((padded, "sdpa"), (packed, packed_attn)):
                if packed_attn == PACKED_SDPA:
                    model.set_attn_implementation(attn)
                model.zero_grad()
                try:
                    with upstream_bugs(FAMILIES[family]):
                        loss, _ = model_loss(model, to_model(batch, model), chunked=chunked, chunk_size=7)
                except RuntimeError as err:
                    if "known upstream bug" in str(err):  # no forward runs at all (Llama 4 in transformers 5.24)
                        pytest.xfail(str(err))
                    raise
                loss.backward()
                results.append((loss.detach(), grads(model)))
            assert_same(*results)


def to_model(batch: dict, model) -> dict:
    """Floating-point inputs in the model's dtype (some image processors return bf16 pixels), as the matrix feeds
    them."""
    return {
        k: v.to(model.dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in batch.items()
    }


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


def train_tiny(tmp_path, checkpoint: str, evaluate: bool = False, **train_keys):
    """Two optimizer steps of a tiny checkpoint on 8 image and text-only rows; the TrainResult."""
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
            "model": {"model_id": checkpoint, "family": None, "tiny": False},
            "data": {"num_workers": 0},
            "train": {
                "max_steps": 2,
                "per_device_batch_size": 4,
                "logging_steps": 1,
                "eval_each_epoch": False,
                "precision": "fp32",
                **train_keys,
            },
        }
    )
    res = train(cfg, cfg.model.model_id, ds, ds if evaluate else None, tmp_path / "out")
    losses = [h["loss"] for h in res.log_history if "loss" in h]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert (res.checkpoint / "adapter_config.json").exists()
    return res


def test_train_with_packing_chunked_loss_and_length_groups(tmp_path, tiny_path, one_thread):
    """The Trainer path: packing + chunked loss + length-grouped batches train, log finite losses and save."""
    res = train_tiny(tmp_path, str(tiny_path("qwen2_vl")), packing=True, chunked_loss=True, group_by_length=True)
    assert res.metrics["batching"] == "packed" and res.metrics["loss"] == "chunked"


@pytest.mark.parametrize(("family", "batching"), [("qwen2_vl", "packed"), ("lfm2_vl", "length_grouped")])
def test_default_config_trains_fast_and_says_how(tmp_path, tiny_path, one_thread, family, batching):
    """No batching keys in the config: a family that packs trains (and evaluates) packed, one that cannot (LFM2-VL:
    short convolutions along the row) length-grouped; both with the chunked loss; the result says which."""
    res = train_tiny(tmp_path, str(tiny_path(family)), evaluate=True)
    assert res.metrics["batching"] == batching and res.metrics["loss"] == "chunked"
    # packed rows attend per sample; the name is the run's alone: the saved checkpoint does not carry it
    assert res.metrics["attention"] == ("packed_sdpa" if batching == "packed" else "sdpa")
    assert not [f for f in res.checkpoint.rglob("*.json") if "packed_sdpa" in f.read_text()]
    assert np.isfinite(res.metrics["eval_loss"])  # evaluation goes through the same collator and loss


def test_batching_defaults_pack_where_the_family_can():
    """Default config: every packing family packs; every other family falls back to length-grouped batches."""
    cfg = parse_config({}).train
    assert cfg.packing == "auto" and cfg.group_by_length == "auto" and cfg.chunked_loss
    for name, fam in FAMILIES.items():
        b = resolve_batching(cfg, fam)
        if fam.packing:
            assert (b.mode, b.packing, b.group_by_length) == ("packed", True, False), name
        else:
            assert (b.mode, b.packing, b.group_by_length) == ("length_grouped", False, True), name
            assert f"family {name} cannot pack" in b.reason and "Packing off" in b.reason


def test_batching_explicit_settings():
    qwen, gemma3, glm4v = FAMILIES["qwen2_vl"], FAMILIES["gemma3"], FAMILIES["glm4v"]
    # packing: true on a family that cannot pack: an error naming the family and its reason
    with pytest.raises(ValueError, match=r"train\.packing: true, but family gemma3 cannot pack: Packing off: "):
        resolve_batching(parse_config({"train": {"packing": True}}).train, gemma3)
    assert resolve_batching(parse_config({"train": {"packing": True}}).train, qwen).mode == "packed"
    # ZeRO-3 forbids packing: auto falls back, true is a config error (tests/test_configs.py)
    zero3 = parse_config({"train": {"distributed": {"strategy": "zero3"}}}).train
    b = resolve_batching(zero3, qwen)
    assert b.mode == "length_grouped" and "ZeRO-3" in b.reason
    off = parse_config({"train": {"packing": False}}).train
    assert resolve_batching(off, qwen).mode == "length_grouped"
    plain = parse_config({"train": {"packing": False, "group_by_length": False}}).train
    assert resolve_batching(plain, qwen).mode == "padded"
    both = parse_config({"train": {"packing": True, "group_by_length": True}}).train
    assert resolve_batching(both, qwen) == Batching("packed", True, True, "train.packing: true")
    # a family that takes one media kind per batch: its batches are media-grouped, not length-grouped
    assert resolve_batching(off, glm4v).mode == "media_grouped"
    assert resolve_batching(parse_config({}).train, glm4v).mode == "packed"
