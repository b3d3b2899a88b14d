"""Model families and the supported-models list.

A family is a small declarative entry: which auto class loads it, where its vision tower, projector and LLM live
(module-name prefixes), which media it takes and what quirks it has. Everything else (labels, collation, LoRA targets)
is derived from the checkpoint's own processor and chat template.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    vision: tuple[str, ...]
    projector: tuple[str, ...]
    llm: tuple[str, ...]
    auto_class: str = "AutoModelForImageTextToText"
    images: bool = True
    multi_image: bool = True
    video: bool = False
    # Padding-free packing (components/packing.py): several samples per row, positions restarting per sample.
    # A family that cannot pack sets False and says why in `notes`.
    packing: bool = True
    notes: str = ""


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family(
            "qwen2_vl",
            ("qwen2_vl",),
            vision=("model.visual",),
            projector=("model.visual.merger",),
            llm=("model.language_model",),
            video=True,
        ),
        Family(
            "qwen2_5_vl",
            ("qwen2_5_vl",),
            vision=("model.visual",),
            projector=("model.visual.merger",),
            llm=("model.language_model",),
            video=True,
        ),
        Family(
            "llava",
            ("llava",),
            vision=("model.vision_tower",),
            projector=("model.multi_modal_projector",),
            llm=("model.language_model",),
            notes="LLaVA-1.5 and LLaVA-Interleave; the 1.5 template emits no EOS after answers, so EOS is supervised.",
        ),
        Family(
            "llava_onevision",
            ("llava_onevision",),
            vision=("model.vision_tower",),
            projector=("model.multi_modal_projector",),
            llm=("model.language_model",),
            video=True,
        ),
    ]
}


@dataclass(frozen=True)
class ModelEntry:
    model_id: str
    family: str
    hub_path: str
    tiny: bool = False


MODELS: dict[str, ModelEntry] = {
    e.model_id: e
    for e in [
        ModelEntry("tiny-qwen2-vl", "qwen2_vl", "(built locally)", tiny=True),
        ModelEntry("tiny-qwen2.5-vl", "qwen2_5_vl", "(built locally)", tiny=True),
        ModelEntry("tiny-llava", "llava", "(built locally)", tiny=True),
        ModelEntry("tiny-llava-onevision", "llava_onevision", "(built locally)", tiny=True),
        ModelEntry("llava-1.5-7b", "llava", "llava-hf/llava-1.5-7b-hf"),
        ModelEntry("llava-1.5-13b", "llava", "llava-hf/llava-1.5-13b-hf"),
        ModelEntry("llava-interleave-qwen-0.5b", "llava", "llava-hf/llava-interleave-qwen-0.5b-hf"),
        ModelEntry("llava-interleave-qwen-7b", "llava", "llava-hf/llava-interleave-qwen-7b-hf"),
        ModelEntry("llava-onevision-0.5b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"),
        ModelEntry("llava-onevision-7b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-7b-ov-hf"),
        ModelEntry("llava-onevision-72b-ov", "llava_onevision", "llava-hf/llava-onevision-qwen2-72b-ov-hf"),
        ModelEntry("qwen2-vl-2b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct"),
        ModelEntry("qwen2-vl-7b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-7B-Instruct"),
        ModelEntry("qwen2-vl-72b-instruct", "qwen2_vl", "Qwen/Qwen2-VL-72B-Instruct"),
        ModelEntry("qwen2.5-vl-3b-instruct", "qwen2_5_vl", "Qwen/Qwen2.5-VL-3B-Instruct"),
        ModelEntry("qwen2.5-vl-7b-instruct", "qwen2_5_vl", "Qwen/Qwen2.5-VL-7B-Instruct"),
        ModelEntry("qwen2.5-vl-72b-instruct", "qwen2_5_vl", "Qwen/Qwen2.5-VL-72B-Instruct"),
    ]
}


def family_for_model_type(model_type: str) -> Family:
    for fam in FAMILIES.values():
        if model_type in fam.model_types:
            return fam
    raise ValueError(
        f"No family entry for model_type {model_type!r}. Supported: "
        f"{sorted(t for f in FAMILIES.values() for t in f.model_types)}. See docs/add_new_model.md."
    )


def resolve_path(model_id: str) -> str:
    """A registry id maps to its hub path; anything else (hub path or local directory) is used as given."""
    entry = MODELS.get(model_id)
    if entry is not None and not entry.tiny:
        return entry.hub_path
    return model_id


def supported_models_table() -> list[dict[str, str]]:
    rows = []
    for e in MODELS.values():
        fam = FAMILIES[e.family]
        media = ["image"] + (["multi-image"] if fam.multi_image else []) + (["video"] if fam.video else [])
        rows.append(
            {
                "id": e.model_id,
                "hub_path": e.hub_path,
                "family": e.family,
                "modalities": ", ".join(["text", *media]),
                "lora_targets": "all nn.Linear under " + ", ".join(fam.llm),
            }
        )
    return rows


def linear_names(model: nn.Module, prefixes: tuple[str, ...], exclude: tuple[str, ...] = ()) -> list[str]:
    """Full names of every nn.Linear under `prefixes` (PEFT target list), skipping `exclude` prefixes."""

    def under(name: str, pre: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in pre)

    return [
        n for n, m in model.named_modules() if isinstance(m, nn.Linear) and under(n, prefixes) and not under(n, exclude)
    ]


@dataclass
class Loaded:
    model: nn.Module
    processor: object
    family: Family
    path: str
    extras: dict = field(default_factory=dict)


def read_model_type(path: str, trust_remote_code: bool = False) -> str:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code).model_type


def load_processor(path: str, trust_remote_code: bool = False):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)


def load_model(
    path: str,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
    quantization_config=None,
    attn_implementation: str | None = None,
    device_map=None,
) -> tuple[nn.Module, Family]:
    """Load any supported checkpoint (hub id or local dir) with its family's auto class."""
    import transformers

    if trust_remote_code:
        log.warning("trust_remote_code=True: executing Python code shipped with %s", path)
    fam = family_for_model_type(read_model_type(path, trust_remote_code))
    auto = getattr(transformers, fam.auto_class)
    kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code}
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map is not None:
        kwargs["device_map"] = device_map
    model = auto.from_pretrained(path, **kwargs)
    return model, fam


def is_checkpoint_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "config.json").exists()
