"""Every shipped config loads: ZenML's run-config schema (no misspelled top-level key, known steps) and our
strict RunConfig (no unknown key anywhere)."""

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
