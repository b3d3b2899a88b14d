"""Every shipped config loads: ZenML's run-config schema (no misspelled top-level key, known steps) and our
strict RunConfig (no unknown key anywhere)."""

import json
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError, RunConfig, load_config, parse_config
from tests.zenml_cli import zenml_env, zenml_run

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


def _problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "run.yaml")
    assert str(err.value).startswith("Invalid config run.yaml:")
    return err.value.problems


def test_config_problems_are_path_message_lines_with_did_you_mean():
    """Each problem is one `path: message` line; an unknown key names the sibling it is close to (difflib on the typed
    RunConfig's field names), or the section where a key of that name lives."""
    assert _problems({"train": {"epoch": 3}}) == ["train.epoch: unknown key (did you mean train.epochs?)"]
    assert _problems({"train": {"lora": {"rr": 8}}}) == ["train.lora.rr: unknown key (did you mean train.lora.r?)"]
    assert _problems({"trian": {}}) == ["trian: unknown key (did you mean train?)"]
    assert _problems({"train": {"image_folder": "x"}}) == [
        "train.image_folder: unknown key here (it belongs in data.image_folder)"
    ]
    # every problem at once, values named
    assert _problems({"train": {"llm": "lora2", "epochs": "many"}, "smoke": {"samples": 3}}) == [
        "train.llm: Input should be 'lora', 'qlora', 'full' or 'frozen' (got 'lora2')",
        "train.epochs: Input should be a valid number, unable to parse string as a number (got 'many')",
        "smoke.samples: unknown key (did you mean smoke.num_samples?)",
    ]
    assert _problems({"train": {"llm": "frozen", "vision": "frozen", "projector": "frozen"}}) == [
        "train: Nothing to train: llm, vision and projector are all frozen."
    ]


def _write(tmp_path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_config_file_problems(tmp_path):
    """The file itself: a ZenML run config with a typo, run keys under ZenML's `model:` or at the top level, bad YAML,
    a missing file, another top level: each a `path: message` line of a ConfigError."""
    demo = (Path(__file__).parent.parent / "configs" / "demo.yaml").read_text()
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, demo.replace("epochs: 12", "epoch: 12")))
    assert err.value.problems == ["train.epoch: unknown key (did you mean train.epochs?)"]

    misplaced = "enable_cache: true\nmodel:\n  model_id: tiny-qwen2-vl\n  name: x\ntrain: {epochs: 1}\nparameters: {}\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, misplaced))
    assert err.value.problems == [
        "train: run config keys belong under parameters.config (parameters.config.train)",
        "model.model_id: run config keys belong under parameters.config (parameters.config.model.model_id); the "
        "top-level `model:` is ZenML's Model (name, description, version, ...)",
    ]
    # a bare RunConfig (no ZenML key) is read as one by lmms, but is no ZenML run config (what -c takes)
    bare = _write(tmp_path, "model: {model_id: tiny-qwen2-vl}\ntrain: {epochs: 2}\n", "bare.yaml")
    assert load_config(bare).train.epochs == 2
    with pytest.raises(ConfigError, match=r"model\.model_id: run config keys belong under parameters\.config"):
        load_config(bare, zenml=True)

    for text, problem in [
        ("parameters:\n  config: [1,\n", r"line 3 column 1: not valid YAML: expected the node content"),
        ("- a\n- b\n", r"\(top level\): a mapping expected, got list"),
        ("parameters:\n  config:\n    - train\n", r"\(top level\): a mapping of sections expected, got list"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            load_config(_write(tmp_path, text))
    with pytest.raises(ConfigError, match=r"\(file\): cannot read it \(No such file or directory\)"):
        load_config(tmp_path / "missing.yaml")


def test_pipeline_config_file_check(tmp_path):
    """What `-c` gets checked for before ZenML reads the file: also ZenML top-level keys ZenML would silently ignore;
    the shipped configs have no problem."""
    from pipelines.guards import config_file_problems

    for path in CONFIGS:
        assert config_file_problems(path) == [], path.name
    path = _write(tmp_path, "enable_cach: false\nparameters:\n  config:\n    train: {epoch: 1}\n")
    assert config_file_problems(path) == [
        "enable_cach: unknown key (did you mean enable_cache?)",
        "train.epoch: unknown key (did you mean train.epochs?)",
    ]


@pytest.mark.slow
def test_zenml_run_with_bad_config_fails_early_and_readably(tmp_path):
    """`zenml pipeline run pipelines.finetune.finetune -c x.yaml` with a typo or run keys under ZenML's `model:` ends
    in the `path: message` lines, exit 1, no traceback (ZenML's own: ~170 lines blaming "JSON serializable
    inputs", or `Field required ... name`), and nothing runs."""
    env = zenml_env(tmp_path / "zenml")
    demo = (Path(__file__).parent.parent / "configs" / "demo.yaml").read_text()
    typo = _write(tmp_path, demo.replace("epochs: 12", "epoch: 12"), "typo.yaml")
    under_model = _write(
        tmp_path, demo.replace("  name: lmms-demo\n", "  name: lmms-demo\n  model_id: tiny-qwen2-vl\n"), "model.yaml"
    )
    for path, line in [
        (typo, "train.epoch: unknown key (did you mean train.epochs?)"),
        (under_model, "model.model_id: run config keys belong under parameters.config (parameters.config.model."),
    ]:
        rc, out = zenml_run(env, "pipeline", "run", "pipelines.finetune.finetune", "-c", str(path))
        assert rc == 1, out[-3000:]
        assert f"Error: Invalid config {path}:\n  {line}" in out, out[-3000:]
        assert "Traceback" not in out and "JSON serializable" not in out and "Field required" not in out
        assert "Step validate_dataset" not in out  # nothing ran
