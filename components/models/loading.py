"""Resolving and loading a model: `ModelRef` is the one place that decides a run's checkpoint path, family, revision
and remote-code opt-in; everything that loads a model or processor goes through it."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import transformers
from torch import nn
from transformers import AutoConfig, AutoProcessor

from components.artifacts import CheckpointMeta
from components.config import ModelConfig
from components.models.catalog import MODELS, family_for_model_type, get_family
from components.models.family import Family
from components.models.tiny.build import build_tiny

log = logging.getLogger(__name__)

# Family.quirks understood here: "pil_image_processor" loads the PIL backend of the image processor (for families
# whose default torchvision backend has an upstream bug the PIL one does not; the family's notes name the bug).
PIL_IMAGE_PROCESSOR = "pil_image_processor"


def read_model_type(path: str, trust_remote_code: bool = False, revision: str | None = None) -> str:
    """The checkpoint's model_type, read from config.json (no code is run, so remote-code models are recognised
    before the opt-in is checked)."""
    cfg = Path(path) / "config.json"
    if cfg.exists():
        model_type = json.loads(cfg.read_text()).get("model_type")
        if model_type:
            return model_type
    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision).model_type
    except ValueError as err:
        if "trust_remote_code" in str(err) and not trust_remote_code:
            raise ValueError(
                f"{path} ships its own modelling code; it loads only with model.trust_remote_code: true "
                f"(an explicit per-model opt-in). Original error: {err}"
            ) from None
        raise


@dataclass(frozen=True)
class ModelRef:
    """A model resolved once: where its files are, which family it belongs to, and how to load it."""

    path: str  # local directory or hub path
    family: str
    revision: str | None = None
    trust_remote_code: bool = False
    attn_implementation: str | None = None

    @property
    def entry(self) -> Family:
        return get_family(self.family)

    @classmethod
    def from_config(cls, m: ModelConfig) -> ModelRef:
        """The configured model: a tiny model is built (once) offline; a catalog id maps to its hub path; anything
        else is a hub path or a local directory. `model.family` wins over the checkpoint's model_type."""
        entry = MODELS.get(m.model_id)
        if m.tiny or (entry is not None and entry.tiny):
            family = m.family or (entry.family if entry else None)
            if family is None:
                raise ValueError(f"model.tiny needs model.family (or a tiny catalog id), got {m.model_id!r}")
            return cls(str(build_tiny(family)), family, None, m.trust_remote_code, m.attn_implementation)
        path = entry.hub_path if entry is not None else m.model_id
        family = m.family or (entry.family if entry else None)
        if family is None:
            family = family_for_model_type(read_model_type(path, m.trust_remote_code, m.revision)).name
        return cls(path, get_family(family).name, m.revision, m.trust_remote_code, m.attn_implementation)

    @classmethod
    def from_path(cls, path: str | Path, trust_remote_code: bool | None = None) -> ModelRef:
        """A checkpoint directory (ours or anyone's): its family and opt-in from lmms_train.json when we wrote it,
        else from its config.json."""
        meta = CheckpointMeta.read(path)
        remote = trust_remote_code if trust_remote_code is not None else bool(meta and meta.trust_remote_code)
        family = meta.family if meta and meta.family else None
        if family is None:
            family = family_for_model_type(read_model_type(str(path), remote)).name
        return cls(str(path), family, meta.revision if meta else None, remote)

    @property
    def base(self) -> ModelRef | None:
        """For a LoRA adapter directory: the base model it attaches to (same family, opt-in and revision)."""
        meta = CheckpointMeta.read(self.path)
        cfg = Path(self.path) / "adapter_config.json"
        if not cfg.exists():
            return None
        base = meta.base_model if meta and meta.base_model else json.loads(cfg.read_text())["base_model_name_or_path"]
        if Path(base).is_absolute() and not Path(base).exists() and Path(base).parent.name == "tiny":
            # a tiny base built on another machine or pod (its $LMMS_CACHE): the seeded build is the same here
            rebuilt = build_tiny(self.family)
            base = str(rebuilt) if rebuilt.name == Path(base).name else base
        return ModelRef(base, self.family, self.revision, self.trust_remote_code, self.attn_implementation)

    def _kwargs(self) -> dict:
        return {"trust_remote_code": self.trust_remote_code, "revision": self.revision}

    def load_processor(self):
        kwargs = self._kwargs()
        if PIL_IMAGE_PROCESSOR in self.entry.quirks:
            kwargs["backend"] = "pil"
        processor = AutoProcessor.from_pretrained(self.path, **kwargs)
        tok = getattr(processor, "tokenizer", None)
        if getattr(processor, "chat_template", None) is None and getattr(tok, "chat_template", None) is not None:
            # Processor classes whose __init__ lacks `chat_template` (Phi4MultimodalProcessor in transformers 5.24)
            # drop it on load; the tokenizer loaded the same chat_template.jinja.
            processor.chat_template = tok.chat_template
        return processor

    def load_model(self, dtype: torch.dtype = torch.float32, quantization_config=None, device_map=None) -> nn.Module:
        """The model through its family's auto class (remote code only with the per-model opt-in)."""
        fam = self.entry
        if fam.remote_code and not self.trust_remote_code:
            raise ValueError(
                f"{self.path} ({fam.name}) exists only as remote code; set model.trust_remote_code: true for this "
                "model to run the code shipped with the checkpoint"
            )
        if self.trust_remote_code:
            bar = "!" * 78
            log.warning(
                "\n%s\ntrust_remote_code=True: executing Python code shipped with %s.\n"
                "Only do this for checkpoints whose code you have read or trust.\n%s",
                bar,
                self.path,
                bar,
            )
        kwargs = {"dtype": dtype, **self._kwargs()}
        if quantization_config is not None:
            kwargs["quantization_config"] = quantization_config
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        if device_map is not None:
            kwargs["device_map"] = device_map
        return getattr(transformers, fam.auto_class).from_pretrained(self.path, **kwargs)


def load_model(
    path: str,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
    **kwargs,
):
    """(model, family) of a checkpoint directory or hub path (see ModelRef for runs)."""
    ref = replace(ModelRef.from_path(path, trust_remote_code), attn_implementation=attn_implementation)
    return ref.load_model(dtype, **kwargs), ref.entry


def load_processor(path: str, trust_remote_code: bool = False):
    try:
        return ModelRef.from_path(path, trust_remote_code).load_processor()
    except (ValueError, OSError):  # e.g. an adapter directory of an unknown family: no quirks to apply
        return AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)


@contextmanager
def upstream_bugs(fam: Family):
    """Re-raise errors that match a family's known upstream bug with a message naming it."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised unchanged unless it matches
        text = f"{type(err).__name__}: {err}"
        for needle, explanation in fam.known_bugs:
            if needle in text:
                raise RuntimeError(f"{fam.name}: known upstream bug: {explanation} (error was: {text})") from err
        raise
