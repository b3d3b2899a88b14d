"""Training on the tiny checkpoints: which parameters one optimizer step moves for each LLM / vision / projector
mode, that the loss goes down, and that `train()` writes a safetensors-only checkpoint that loads for inference."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from components.artifacts import Sample
from components.config import DataConfig, LoraConfig, RunConfig, TrainConfig
from components.data.collator import VLMCollator, stop_tokens
from components.models.family import Family
from components.models.tiny.build import build_tiny
from components.release.inference import generate, load_for_inference
from components.train.parts import apply_trainable, part_of
from components.train.recipe import RowsDataset, load_for_training, train

FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava", "llava_onevision"]


pytestmark = pytest.mark.usefixtures("one_thread")


QUESTIONS = [("What color is the shape?", "red"), ("Is the shape on the left or right?", "left")]


def image(seed: int, side: int = 56) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8))


def rows(n: int = 2) -> list[dict]:
    out = []
    for i in range(n):
        q, a = QUESTIONS[i % len(QUESTIONS)]
        messages = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]},
            {"role": "assistant", "content": [{"type": "text", "text": a}]},
        ]
        out.append({"index": i, "messages": messages, "images": [image(i)], "videos": []})
    return out


def base_name(name: str) -> str:
    """The parameter's name in the unwrapped model: PEFT prefixes and wrapper segments removed."""
    name = name.removeprefix("base_model.model.")
    return re.sub(r"\.(modules_to_save\.[^.]+|original_module|base_layer|lora_[AB]\.[^.]+)(?=\.)", "", name)


def part(name: str, fam: Family) -> str:
    return part_of(base_name(name), fam)


def is_lora(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def is_copy(name: str) -> bool:
    return ".modules_to_save." in name


def build(family: str, **modes) -> tuple[RunConfig, torch.nn.Module, object, Family]:
    cfg = RunConfig(train=TrainConfig(precision="fp32", lora=LoraConfig(r=4, alpha=8, dropout=0.0), **modes))
    model, processor, fam = load_for_training(cfg, str(build_tiny(family)))
    return cfg, apply_trainable(model, fam, cfg.train), processor, fam


def snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def one_step(family: str, **modes):
    """Build, apply the modes, take one AdamW step on a 2-row image batch; returns what moved."""
    torch.manual_seed(0)
    _, model, processor, fam = build(family, **modes)
    with torch.no_grad():  # PEFT zero-initialises B, which leaves A without gradient on the first step
        for n, p in model.named_parameters():
            if ".lora_B." in n:
                p.normal_(0.0, 0.02)
    batch = VLMCollator(processor, stop_tokens(processor, model.generation_config))(rows(2))
    assert batch["pixel_values"].numel() > 0
    batch = {k: v.to(model.device) for k, v in batch.items()}  # QLoRA loads onto the GPU where there is one
    before = snapshot(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, "nothing trainable"
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    model.train()
    loss = model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    no_grad = {n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())}
    assert no_grad == set(), f"no gradient reached {sorted(no_grad)[:5]}"
    opt.step()
    after = dict(model.named_parameters())
    changed = {n for n, t in before.items() if not torch.equal(t, after[n].detach())}
    # The invariant for every mode: frozen parameters are bit-identical, trainable ones (that take part) moved.
    assert not changed - trainable, f"frozen parameters changed: {sorted(changed - trainable)[:5]}"
    expected = set(trainable)
    assert changed == expected, f"trainable parameters that did not change: {sorted(expected - changed)[:5]}"
    return model, fam, trainable, changed


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_llm_only(family):
    model, fam, trainable, changed = one_step(family, llm="lora", vision="frozen", projector="frozen")
    names = [n for n, _ in model.named_parameters()]
    assert all(is_lora(n) and part(n, fam) == "llm" for n in trainable)
    assert not any(is_lora(n) and part(n, fam) != "llm" for n in names), "LoRA outside the LLM"
    assert not any(is_copy(n) for n in names), "no modules_to_save copies expected"
    assert not any(".lm_head." in n and is_lora(n) for n in names)
    assert {part(n, fam) for n in changed} == {"llm"}


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_vision_only(family):
    model, fam, trainable, changed = one_step(family, llm="frozen", vision="lora", projector="frozen")
    names = [n for n, _ in model.named_parameters()]
    assert all(is_lora(n) and part(n, fam) == "vision" for n in trainable)
    # Qwen's projector (model.visual.merger) lives inside the vision tower: it must get no LoRA and stay frozen.
    assert not any(is_lora(n) and part(n, fam) != "vision" for n in names), "LoRA outside the vision encoder"
    assert not any(is_copy(n) for n in names)
    projector = [n for n in names if part(n, fam) == "projector"]
    assert projector and not set(projector) & changed
    assert {part(n, fam) for n in changed} == {"vision"}
    if family.startswith("qwen"):
        assert not any(".merger." in n and is_lora(n) for n in names)


@pytest.mark.parametrize("family", FAMILIES)
def test_full_projector_with_llm_lora(family):
    model, fam, trainable, changed = one_step(family, llm="lora", vision="frozen", projector="full")
    names = [n for n, _ in model.named_parameters()]
    copies = {n for n in names if is_copy(n)}
    assert copies and all(part(n, fam) == "projector" for n in copies)
    assert copies <= changed, "the projector's trained copy must move"
    assert {n for n in trainable if not is_lora(n)} == copies
    assert all(part(n, fam) == "llm" for n in trainable if is_lora(n))
    assert not any(part(n, fam) == "vision" for n in changed), "vision encoder moved"
    originals = [n for n in names if ".original_module." in n]
    assert originals and not set(originals) & changed


def test_full_vision_keeps_nested_projector_frozen():
    """Vision full + projector frozen with LoRA elsewhere: Qwen's merger sits inside the vision tower's trained copy,
    and must still stay frozen."""
    model, fam, trainable, changed = one_step("qwen2_vl", llm="lora", vision="full", projector="frozen")
    assert not any(".merger." in n for n in trainable)
    assert any(is_copy(n) and part(n, fam) == "vision" for n in changed)


@pytest.mark.parametrize("family", FAMILIES)
def test_qlora_llm(family):
    import bitsandbytes as bnb

    model, fam, trainable, changed = one_step(family, llm="qlora", vision="frozen", projector="frozen")
    modules = dict(model.named_modules())
    four_bit = {n for n, m in modules.items() if isinstance(m, bnb.nn.Linear4bit)}
    assert four_bit and all(part(n + ".weight", fam) == "llm" for n in four_bit), "only LLM linears are 4-bit"
    # Every LoRA-wrapped LLM linear sits on a 4-bit base layer; nothing in vision / projector / lm_head is quantized.
    wrapped = [n for n, m in modules.items() if hasattr(m, "base_layer") and part(n + ".weight", fam) == "llm"]
    assert wrapped and all(isinstance(modules[n].base_layer, bnb.nn.Linear4bit) for n in wrapped)
    for n, m in modules.items():
        if isinstance(m, torch.nn.Linear) and part(n + ".weight", fam) in ("vision", "projector"):
            assert not isinstance(m, bnb.nn.Linear4bit), n
        elif isinstance(m, torch.nn.Linear) and ".lora_" not in n and not n.endswith("lm_head"):
            assert isinstance(m, bnb.nn.Linear4bit), f"LLM linear {n} is not 4-bit"
    assert not any(isinstance(m, bnb.nn.Linear4bit) for n, m in modules.items() if n.endswith("lm_head"))
    assert all(is_lora(n) and part(n, fam) == "llm" for n in trainable)
    assert changed


@pytest.mark.parametrize("family", FAMILIES)
def test_full_llm_without_lora(family):
    from peft import PeftModel

    model, fam, trainable, changed = one_step(family, llm="full", vision="frozen", projector="frozen")
    assert not isinstance(model, PeftModel)
    names = [n for n, _ in model.named_parameters()]
    assert not any(is_lora(n) or is_copy(n) for n in names)
    assert trainable == {n for n in names if part(n, fam) == "llm"}
    assert "lm_head.weight" in changed
    assert {part(n, fam) for n in changed} == {"llm"}


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_decreases_on_fixed_batch(family):
    torch.manual_seed(0)
    _, model, processor, _ = build(family, llm="lora", vision="frozen", projector="full")
    batch = VLMCollator(processor, stop_tokens(processor, model.generation_config))(rows(2))
    batch = {k: v.to(model.device) for k, v in batch.items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    # LoRA on a tiny random LLM with a frozen lm_head cannot go far below ln(vocab) - ~1.3; a clear drop is enough.
    assert losses[-1] < losses[0] - 0.5, losses
    assert min(losses[-3:]) < min(losses[:3]), losses


PICKLES = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt")


@pytest.mark.parametrize(
    "family,modes",
    [
        ("qwen2_vl", {"llm": "lora", "vision": "lora", "projector": "full"}),
        ("llava", {"llm": "full", "vision": "frozen", "projector": "frozen"}),
    ],
    ids=["qwen2_vl-lora", "llava-full"],
)
def test_train_writes_safetensors_checkpoint_that_generates(tmp_path, family, modes):
    from transformers import AutoProcessor

    imgs = {f"img{i}.png": image(100 + i) for i in range(16)}
    samples = [
        Sample(
            i,
            str(i),
            None,
            [("user", "<image>\n" + QUESTIONS[i % 2][0]), ("assistant", QUESTIONS[i % 2][1])],
            images=[f"img{i}.png"],
        )
        for i in range(16)
    ]
    ds = RowsDataset(samples, imgs.__getitem__, lambda p: pytest.fail("no videos here"))
    cfg = RunConfig(
        data=DataConfig(num_workers=0),
        train=TrainConfig(
            precision="fp32",
            max_steps=3,
            per_device_batch_size=4,
            logging_steps=1,
            learning_rate=1e-3,
            lora=LoraConfig(r=4, alpha=8),
            **modes,
        ),
    )
    base = build_tiny(family)
    res = train(cfg, str(base), ds, None, tmp_path / "run")
    final = res.checkpoint
    assert final == tmp_path / "run" / "final" and final.is_dir()
    assert res.is_adapter == (modes["llm"] == "lora")
    assert any("loss" in h for h in res.log_history)
    assert res.metrics["trainable_params"] > 0

    files = {p.name for p in final.iterdir()}
    assert list(final.glob("*.safetensors")), files
    assert ("adapter_model.safetensors" if res.is_adapter else "model.safetensors") in files
    assert ("adapter_config.json" in files) == res.is_adapter
    assert {"tokenizer.json", "tokenizer_config.json", "lmms_train.json"} <= files
    assert files & {"processor_config.json", "preprocessor_config.json"}
    pickles = [p.name for pat in PICKLES for p in final.rglob(pat)]
    assert not pickles, f"pickle files in the checkpoint: {pickles}"

    proc = AutoProcessor.from_pretrained(final)
    assert proc.chat_template and proc.chat_template == AutoProcessor.from_pretrained(base).chat_template

    model, processor = load_for_inference(final)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[0][0]}]}]
    out = generate(model, processor, msgs, [imgs["img0.png"]], max_new_tokens=4)
    assert isinstance(out, str)


def test_media_grouped_sampler_never_mixes_kinds():
    from components.train.trainer import MediaGroupedSampler

    kinds = ["video" if i % 3 == 0 else "other" for i in range(14)]  # 5 video rows, 9 others
    sampler = MediaGroupedSampler(kinds, batch_size=4, seed=1)
    order = list(sampler)
    batches = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert all(len(b) == 4 and len({kinds[i] for i in b}) == 1 for b in batches)  # full batches of one kind
    assert set(order) == set(range(14))  # every row is seen; a kind's last batch is topped up from the same kind
    sampler.set_epoch(1)
    assert list(sampler) != order and sorted(set(sampler)) == list(range(14))


def test_family_without_mixed_media_batches_trains_on_image_and_video_rows(tmp_path, tiny_path):
    """GLM-4.1V cannot take image and video rows in one batch (transformers 5.24): train() forms batches per kind."""
    rng = np.random.default_rng(0)
    imgs = {f"img{i}.png": image(200 + i) for i in range(6)}
    vids = {f"vid{i}.mp4": rng.integers(0, 256, (4, 56, 56, 3), dtype=np.uint8) for i in range(3)}
    samples = [
        Sample(i, str(i), None, [("user", "<image>\nWhat colour?"), ("assistant", "red")], images=[f"img{i}.png"])
        for i in range(6)
    ] + [
        Sample(6 + i, None, None, [("user", "<video>\nWhere?"), ("assistant", "left")], videos=[f"vid{i}.mp4"])
        for i in range(3)
    ]
    ds = RowsDataset(samples, imgs.__getitem__, vids.__getitem__)
    cfg = RunConfig(
        model={"model_id": str(tiny_path("glm4v")), "family": "glm4v"},
        data=DataConfig(num_workers=0),
        train=TrainConfig(precision="fp32", epochs=1, per_device_batch_size=4, lora=LoraConfig(r=4, alpha=8)),
    )
    result = train(cfg, str(tiny_path("glm4v")), ds, None, tmp_path)
    assert result.metrics["global_step"] == 3  # 6 image rows -> 2 batches, 3 video rows -> 1 (topped up to 4)
