"""The registered model as a user gets it: an absolute tracking URI, a signature and pinned requirements, loading
through `models:/<name>@<alias>` from another folder with only the tracking URI, and `mlflow models serve` answering
a request with an image path on a loopback port."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from components.artifacts import Checkpoint
from components.config import RunConfig
from components.release.registry import (
    PYFUNC_REQUIREMENTS,
    absolute_uri,
    artifact_location,
    pinned_requirements,
    register,
    registry_client,
    tracking_uri,
)

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "example_data" / "media" / "eval" / "img_0000.png"
MLFLOW = str(Path(sys.executable).parent / "mlflow")


def canonical(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


def register_tiny(tmp: Path, tiny_path, name: str) -> tuple[RunConfig, dict]:
    """The tiny Qwen2-VL checkpoint registered as `name` v1 in a sqlite registry under `tmp`, alias champion."""
    cfg = RunConfig()
    cfg.registry.tracking_uri = f"sqlite:///{tmp / 'mlflow.db'}"
    cfg.registry.model_name = cfg.registry.experiment = name
    ckpt = tmp / "ckpt"
    shutil.copytree(tiny_path("qwen2_vl"), ckpt)
    info = register(cfg, Checkpoint(str(ckpt), family="qwen2_vl"), {"smoke_accuracy": 0.5})
    registry_client(cfg).set_registered_model_alias(name, "champion", str(info["version"]))
    return cfg, info


def clean_env(uri: str) -> dict[str, str]:
    """The environment of a user elsewhere: only the tracking URI, none of this checkout on the Python path, the
    environment's commands on PATH (an activated venv: `mlflow models serve` runs `uvicorn` from there)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "PATH": path, "MLFLOW_TRACKING_URI": uri, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def champion(tmp_path_factory, tiny_path):
    tmp = tmp_path_factory.mktemp("serving")
    cfg, info = register_tiny(tmp, tiny_path, "lmms-serve")
    return cfg, info, tmp


# -- locations ------------------------------------------------------------------------------------------------


def test_default_tracking_uri_is_the_project_db_whatever_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = tracking_uri(RunConfig())
    assert uri == f"sqlite:///{ROOT / 'mlflow.db'}" and uri.startswith("sqlite:////")
    assert artifact_location(uri) == (ROOT / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")  # relative: made absolute once resolved
    assert tracking_uri(RunConfig()) == f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert absolute_uri("mlruns") == (tmp_path / "mlruns").as_uri()
    assert absolute_uri("http://mlflow:5000") == "http://mlflow:5000"


def test_cache_root_is_absolute(tmp_path, monkeypatch):
    from components.config import cache_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMMS_CACHE", "rel-cache")
    assert cache_root() == tmp_path / "rel-cache"


# -- requirements ---------------------------------------------------------------------------------------------


def test_requirements_are_the_pinned_versions_of_everything_the_pyfunc_imports():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.strip().split("==")
            pins[canonical(name)] = version
    reqs = dict(r.split("==") for r in pinned_requirements())
    for name, version in reqs.items():
        assert pins.get(canonical(name)) == version, name
    # the distributions the library modules loaded with the pyfunc import directly (read from their source)
    code = "import json, sys; import components.release.pyfunc_model; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = [m for m in json.loads(proc.stdout.splitlines()[-1]) if m.split(".")[0] == "components"]
    top = set()
    for mod in loaded:
        path = ROOT / (mod.replace(".", "/") + ".py")
        if not path.is_file():
            path = ROOT / mod.replace(".", "/") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                top |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top.add(node.module.split(".")[0])
    third_party = top - set(sys.stdlib_module_names) - {"components", "__future__"}
    dists = importlib.metadata.packages_distributions()
    required = {canonical(n) for n in PYFUNC_REQUIREMENTS}
    # a module several distributions provide (mlflow: mlflow, mlflow-skinny, mlflow-tracing) needs one of them
    missing = {t: dists.get(t, [t]) for t in third_party if not {canonical(d) for d in dists.get(t, [t])} & required}
    assert not missing, missing
    assert {"torch", "transformers", "peft", "PIL", "av", "mlflow"} <= third_party


# -- the registered model -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_registered_model_has_signature_and_pinned_requirements(champion):
    import mlflow

    cfg, info, _ = champion
    uri = cfg.registry.tracking_uri
    registry_client(cfg)
    model_info = mlflow.models.get_model_info("models:/lmms-serve@champion")
    sig = model_info.signature
    assert sig.inputs.input_names() == ["prompt", "image", "video"]
    assert [c.type.name for c in sig.inputs.inputs] == ["string"] * 3
    assert [c.required for c in sig.inputs.inputs] == [True, False, False]
    assert [c.type.name for c in sig.outputs.inputs] == ["string"]
    assert {p.name: p.default for p in sig.params.params} == {"max_new_tokens": 32, "num_frames": 8}
    reqs_file = mlflow.artifacts.download_artifacts("models:/lmms-serve@champion/requirements.txt", tracking_uri=uri)
    reqs = {line.strip() for line in Path(reqs_file).read_text().splitlines() if line.strip()}
    for r in ("torch==2.14.1", "transformers==5.24.0", "peft==0.21.2", "mlflow==3.17.2", "safetensors==0.8.0"):
        assert r in reqs, (r, reqs)
    assert info["tracking_uri"] == uri


@pytest.mark.slow
def test_pyfunc_loads_from_another_folder_with_only_the_tracking_uri(champion, tmp_path):
    cfg, _, _ = champion
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import json, mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model('models:/lmms-serve@champion')\n"
        f"df = pd.DataFrame([{{'prompt': 'What color is the shape?', 'image': {str(IMAGE)!r}}},"
        " {'prompt': 'Say something.'}])\n"
        "print(json.dumps(m.predict(df, params={'max_new_tokens': 3})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=clean_env(cfg.registry.tracking_uri),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out) == 2 and all(isinstance(a, str) for a in out)
    assert not any(elsewhere.iterdir())  # no mlflow.db, no mlruns/ created in the user's folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mlflow_models_serve_answers_a_request_with_an_image(champion, tmp_path):
    cfg, _, _ = champion
    port = free_port()
    cmd = [MLFLOW, "models", "serve", "-m", "models:/lmms-serve@champion", "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    with open(tmp_path / "serve.log", "w") as log:
        serve_and_ask(cmd, cfg, tmp_path, log)


def serve_and_ask(cmd, cfg, tmp_path, log):
    """Start the server (its own process group), wait for /ping, send one request with an image path, stop it."""
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=clean_env(cfg.registry.tracking_uri), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{cmd[cmd.index('-p') + 1]}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-4000:]
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-4000:]
            time.sleep(2)
        body = {
            "dataframe_records": [{"prompt": "What color is the shape?", "image": str(IMAGE)}],
            "params": {"max_new_tokens": 3},
        }
        req = urllib.request.Request(
            f"{base}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=300) as r:
            answer = json.loads(r.read())
        assert set(answer) == {"predictions"}
        assert len(answer["predictions"]) == 1 and isinstance(answer["predictions"][0], str)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
