"""Every shipped config loads: ZenML's run-config schema (no misspelled top-level key, known steps) and our
strict RunConfig (no unknown key anywhere)."""

import json
from pathlib import Path

import pytest
import yaml

from components.config import RunConfig, load_config, parse_config

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
FINETUNE_CONFIGS = [p for p in CONFIGS if not p.name.startswith("promote")]  # promote*.yaml: the promote pipeline
STEPS = {"validate_dataset", "preprocess_media", "finetune", "merge_lora", "smoke_test", "register_model"}


def test_configs_exist():
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads(path):
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    raw = yaml.safe_load(path.read_text())
    unknown = set(raw) - set(PipelineRunConfiguration.model_fields)
    assert not unknown, f"{path.name}: unknown top-level keys {unknown} (ZenML would silently ignore them)"
    PipelineRunConfiguration.model_validate(raw)
    assert set(raw.get("steps") or {}) <= STEPS
    assert set(raw["parameters"]) == {"config"}
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)


def test_unknown_key_rejected_with_path():
    with pytest.raises(ValueError, match=r"train\.learnig_rate: unknown key"):
        parse_config({"train": {"learnig_rate": 1e-4}})


def test_qlora_with_zero3_rejected():
    with pytest.raises(ValueError, match="ZeRO-3"):
        parse_config({"train": {"llm": "qlora", "deepspeed": "infra/ds_zero3.json"}})
    with pytest.raises(ValueError, match="ZeRO-3"):
        parse_config({"train": {"llm": "qlora", "distributed": {"strategy": "zero3"}}})


def test_qlora_with_custom_stage3_json_rejected(tmp_path):
    """The stage is read from the JSON, whatever the file is called."""
    custom = tmp_path / "my_deepspeed.json"
    custom.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    with pytest.raises(ValueError, match="ZeRO-3"):
        parse_config({"train": {"llm": "qlora", "deepspeed": str(custom)}})


def test_packing_with_zero3_rejected(tmp_path):
    """Packing does not count ZeRO-3's masked dummy row (components/train/balancing.py): refused, naming both keys."""
    custom = tmp_path / "my_deepspeed.json"
    custom.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    both_keys = r"train\.packing cannot be combined with DeepSpeed ZeRO-3 \(train\.distributed\.strategy: zero3"
    for train in ({"packing": True, "distributed": {"strategy": "zero3"}}, {"packing": True, "deepspeed": str(custom)}):
        with pytest.raises(ValueError, match=both_keys):
            parse_config({"train": train}, "run.yaml")
    with pytest.raises(ValueError, match="cannot read the ZeRO stage"):  # packing needs the stage: a missing JSON fails
        parse_config({"train": {"packing": True, "deepspeed": str(tmp_path / "missing.json")}})
    # either one alone is fine, and so is packing with ZeRO-2
    assert parse_config({"train": {"packing": True}}).train.packing
    assert parse_config({"train": {"distributed": {"strategy": "zero3"}}}).train.zero_stage == 3
    assert parse_config({"train": {"deepspeed": str(custom)}}).train.zero_stage == 3
    assert parse_config({"train": {"packing": True, "distributed": {"strategy": "zero2"}}}).train.zero_stage == 2


@pytest.mark.parametrize("path", FINETUNE_CONFIGS, ids=lambda p: p.name)
def test_finetune_is_retried(path):
    """A failed or killed finetune is retried by ZenML and resumes from its last complete checkpoint."""
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    retry = PipelineRunConfiguration.model_validate(yaml.safe_load(path.read_text())).steps["finetune"].retry
    assert retry is not None and retry.max_retries >= 1
    assert load_config(path).train.resume


def test_default_is_the_demo():
    demo = load_config(Path(__file__).parent.parent / "configs" / "demo.yaml")
    default = RunConfig()
    assert demo.model == default.model
    assert demo.data.train_path == default.data.train_path
