"""trust_remote_code: an explicit per-model opt-in, off by default and logged loudly, on a tiny remote-code model the
test writes (its modelling code lives in the checkpoint directory, as Qwen-VL-Chat's and Phi-3-Vision's do)."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from components.matrix import run_matrix
from components.models import catalog as families
from components.models.family import Family
from components.models.loading import load_model

CONFIG_PY = """from transformers import LlavaConfig


class RemoteVLConfig(LlavaConfig):
    model_type = "lmms_remote_vl"
"""

MODELING_PY = """from transformers import LlavaForConditionalGeneration

from .configuration_remote_vl import RemoteVLConfig


class RemoteVLForConditionalGeneration(LlavaForConditionalGeneration):
    config_class = RemoteVLConfig
"""

FAMILY = Family(
    "lmms_remote_vl",
    ("lmms_remote_vl",),
    vision=("model.vision_tower",),
    projector=("model.multi_modal_projector",),
    llm=("model.language_model",),
    remote_code=True,
)


@pytest.fixture
def remote_checkpoint(tiny_path, tmp_path):
    """A tiny LLaVA checkpoint turned into a remote-code one: config.json points at code shipped beside it."""
    out = tmp_path / "remote-vl"
    shutil.copytree(tiny_path("llava"), out)
    (out / "configuration_remote_vl.py").write_text(CONFIG_PY)
    (out / "modeling_remote_vl.py").write_text(MODELING_PY)
    cfg = json.loads((out / "config.json").read_text())
    cfg |= {
        "model_type": "lmms_remote_vl",
        "architectures": ["RemoteVLForConditionalGeneration"],
        "auto_map": {
            "AutoConfig": "configuration_remote_vl.RemoteVLConfig",
            "AutoModelForImageTextToText": "modeling_remote_vl.RemoteVLForConditionalGeneration",
        },
    }
    (out / "config.json").write_text(json.dumps(cfg))
    families.register(FAMILY)
    # Saved once through its own class, as a real remote-code checkpoint is (weight names as that class writes them).
    model, _ = load_model(str(out), trust_remote_code=True)
    model.save_pretrained(out)
    yield out
    families.FAMILIES.pop(FAMILY.name)


def test_remote_code_is_refused_without_the_opt_in(remote_checkpoint):
    with pytest.raises(ValueError, match="trust_remote_code: true"):
        load_model(str(remote_checkpoint))


def test_remote_code_opt_in_is_logged_loudly_and_loads_the_shipped_class(remote_checkpoint, caplog):
    with caplog.at_level(logging.WARNING, logger="components.models"):
        model, fam = load_model(str(remote_checkpoint), trust_remote_code=True)
    assert fam is FAMILY
    assert type(model).__name__ == "RemoteVLForConditionalGeneration"
    assert type(model).__module__.startswith("transformers_modules.")  # the checkpoint's code, not the library's
    assert any("trust_remote_code=True" in r.getMessage() and "!!!!" in r.getMessage() for r in caplog.records)


def test_remote_code_family_passes_the_matrix(remote_checkpoint, one_thread):
    result = run_matrix(FAMILY.name, build=lambda: remote_checkpoint)
    assert result.passed, result.reason
