"""Which parts of the model train, and how: the LLM, the vision tower and the projector are each frozen, fully trained
or LoRA-wrapped (QLoRA: the LLM loaded in 4 bits), as `train.llm` / `train.vision` / `train.projector` say."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from torch import nn
from transformers import BitsAndBytesConfig

from components.config import TrainConfig
from components.models.family import Family


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def part_of(name: str, fam: Family) -> str:
    """Which part a parameter/module belongs to: the most specific matching prefix wins (a projector may sit
    inside the vision tower). Unlisted parameters (e.g. image_newline) go with the projector."""
    best, part = -1, "projector"
    for p_name, prefixes in (("llm", (*fam.llm, "lm_head")), ("vision", fam.vision), ("projector", fam.projector)):
        for p in prefixes:
            if _under(name, (p,)) and len(p) > best:
                best, part = len(p), p_name
    return part


def modes(cfg: TrainConfig) -> dict[str, str]:
    return {"llm": "lora" if cfg.llm == "qlora" else cfg.llm, "vision": cfg.vision, "projector": cfg.projector}


def quantization_config(cfg: TrainConfig, fam: Family, dtype: torch.dtype):
    if cfg.llm != "qlora":
        return None
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        llm_int8_skip_modules=[*fam.vision, *fam.projector, "lm_head"],
    )


def _wrappable(model: nn.Module, name: str) -> list[str]:
    """PEFT's modules_to_save cannot wrap a ModuleList/ModuleDict (e.g. Qwen3-VL's DeepStack mergers): use its
    children instead."""
    try:
        mod = model.get_submodule(name)
    except AttributeError:
        return [name]
    if isinstance(mod, nn.ModuleList | nn.ModuleDict):
        return [f"{name}.{c}" for c in mod._modules]
    return [name]


def apply_trainable(model: nn.Module, fam: Family, cfg: TrainConfig) -> nn.Module:
    """Freeze / LoRA-wrap / unfreeze each part as configured; returns the (possibly PEFT-wrapped) model."""
    m = modes(cfg)
    lora_parts = [p for p, mode in m.items() if mode == "lora"]
    if not lora_parts:
        for name, param in model.named_parameters():
            param.requires_grad = m[part_of(name, fam)] == "full"
        return model

    if cfg.llm == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    targets: list[str] = []
    for name, module in model.named_modules():
        # A Linear subclass with its own forward (an MoE router returning scores and logits) is not the plain linear
        # map LoRA adds to.
        plain = isinstance(module, nn.Linear) and type(module).forward is nn.Linear.forward
        is_linear = plain or type(module).__name__.startswith("Linear4bit")
        # A rank-r update of a matrix with a side <= r is not low-rank (Gemma 3n's AltUp coefficient matrices)
        low_rank = is_linear and min(module.in_features, module.out_features) > cfg.lora.r
        if low_rank and name != "lm_head" and m[part_of(name, fam)] == "lora":
            targets.append(name)
    for part in lora_parts:  # a convolutional tower (MobileNetV5) has no nn.Linear: LoRA on its ungrouped Conv2d
        if not any(part_of(t, fam) == part for t in targets):
            convs = [n for n, mod in model.named_modules() if isinstance(mod, nn.Conv2d) and mod.groups == 1]
            targets += [n for n in convs if part_of(n, fam) == part]
    if not targets:
        raise ValueError(f"no nn.Linear found for LoRA under {lora_parts}")
    save: list[str] = []
    if m["projector"] == "full":
        save += list(fam.projector)
    if m["vision"] == "full":
        save += list(fam.vision)
    if m["llm"] == "full":
        save += [*fam.llm, "lm_head"]
    save = [s for s in save if not any(s != o and _under(s, (o,)) for o in save)]  # PEFT wants no nesting
    save = [c for s in save for c in _wrappable(model, s)]
    lcfg = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        bias=cfg.lora.bias,
        target_modules=targets,
        modules_to_save=save or None,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lcfg)
    # A trained copy may hold a nested part that is meant to stay frozen (vision full + projector frozen: Qwen's
    # merger sits inside model.visual); freeze it in the copy so it is saved unchanged.
    for name, param in model.named_parameters():
        if param.requires_grad and ".modules_to_save." in name:
            orig = re.sub(r"\.modules_to_save\.[^.]+(?=\.)", "", name.removeprefix("base_model.model."))
            param.requires_grad = m[part_of(orig, fam)] == "full"
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    return model


def count_trainable(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return train, total
