"""The pipeline on a stack that behaves like a cloud cluster (tests/cloud_stack.py): a real S3 API as artifact store and
data bucket, a real MLflow server as tracker and registry, every step in its own pod (empty HOME, TMPDIR,
$LMMS_CACHE, HF cache, working directory with a fresh copy of the code) that is deleted before the next starts.

One stack serves the whole module. The data is a slice of the example data uploaded to s3://lmms-data/demo/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.cloud_stack import ARTIFACT_BUCKET, DATA_BUCKET, CloudStack, s3_env, start_cloud_stack
from tests.zenml_cli import ROOT

pytestmark = pytest.mark.slow

STEPS = ["validate_dataset", "preprocess_media", "finetune", "merge_lora", "smoke_test", "register_model"]
TRAIN_ROWS, EVAL_ROWS = 24, 8
PREFIX = "demo"


def _slice(tmp: Path) -> Path:
    """A small slice of the example data (rows of every modality) with its media, as a user's local folder."""
    out = tmp / "local-data"
    (out / "media").mkdir(parents=True)
    names = set()
    for split, n in (("train", TRAIN_ROWS), ("eval", EVAL_ROWS)):
        rows = json.loads((ROOT / "example_data" / f"{split}.json").read_text())
        by_kind: dict[str, list] = {}
        for r in rows:
            by_kind.setdefault("video" if "video" in r else "image" if "image" in r else "text", []).append(r)
        picked = [r for i in range(n) for rs in by_kind.values() if i < len(rs) for r in [rs[i]]][:n]
        (out / f"{split}.json").write_text(json.dumps(picked))
        for r in picked:
            for key in ("image", "video"):
                v = r.get(key)
                names.update([v] if isinstance(v, str) else v or [])
    for name in names:
        (out / "media" / name).parent.mkdir(parents=True, exist_ok=True)
        (out / "media" / name).write_bytes((ROOT / "example_data" / "media" / name).read_bytes())
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cloud")
    stack = start_cloud_stack(tmp)
    stack.local_data = _slice(tmp)
    stack.upload_tree(stack.local_data, DATA_BUCKET, PREFIX)
    yield stack
    stack.stop()


def data_section(root: str) -> dict:
    return {
        "train_path": f"{root}/train.json",
        "eval_path": f"{root}/eval.json",
        "image_folder": f"{root}/media",
        "video_folder": f"{root}/media",
        "num_frames": 4,
        "num_workers": 0,
        "on_invalid": "fail",
    }


def cloud_config(stack: CloudStack, name: str, **train) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    c = cfg["parameters"]["config"]
    c["data"] = data_section(f"s3://{DATA_BUCKET}/{PREFIX}")
    c["train"].update(epochs=1, per_device_batch_size=8, logging_steps=1, **train)
    c["smoke"]["num_samples"] = 4
    c["registry"]["model_name"] = "lmms-cloud"
    path = stack.tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def demo_run(stack):
    start = time.monotonic()
    rc, out = stack.zenml("pipeline", "run", "pipelines.finetune.finetune", "-c", str(cloud_config(stack, "demo")))
    return rc, out, time.monotonic() - start


def failed_pod_log(stack: CloudStack) -> str:
    failed = [p for p in stack.pods() if p["rc"] != 0]
    return f"{failed[0]['step']}:\n{Path(failed[0]['log']).read_text()[-8000:]}" if failed else ""


def test_demo_pipeline_on_the_isolated_stack(stack, demo_run):
    rc, out, seconds = demo_run
    assert rc == 0, failed_pod_log(stack) or out[-6000:]
    print(f"demo on the isolated stack: {seconds:.0f}s")
    pods = stack.pods()
    ran = [p["step"] for p in pods]
    assert ran == [*STEPS, "promote_model"], ran
    assert all(p["rc"] == 0 and p["deleted"] for p in pods)
    # each pod was gone before the next one started: the finetune process saw no file of an earlier step
    for before, after in zip(pods, pods[1:], strict=False):
        assert before["end"] <= after["start"], (before, after)
    assert len({p["pod"] for p in pods}) == len(pods)
    # the artifact store holds the media objects and the run's artifacts; no checkpoint is left mirrored
    media = stack.keys(ARTIFACT_BUCKET, "zenml/lmms-media/")
    assert media and all(k.endswith((".png", ".npz")) for k in media)
    assert not stack.keys(ARTIFACT_BUCKET, "zenml/lmms-checkpoints/")

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.tracking_uri, registry_uri=stack.tracking_uri)
    champion = client.get_model_version_by_alias("lmms-cloud", "champion")
    assert champion.version == client.get_model_version_by_alias("lmms-cloud", "candidate").version


def test_pyfunc_predicts_from_a_fresh_process_with_only_the_tracking_uri(stack, demo_run, tmp_path):
    assert demo_run[0] == 0
    rows = json.loads((stack.local_data / "eval.json").read_text())
    image = stack.local_data / "media" / next(r["image"] for r in rows if isinstance(r.get("image"), str))
    code = (
        "import json, mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model('models:/lmms-cloud@champion')\n"
        f"df = pd.DataFrame([{{'prompt': 'What color is the shape?', 'image': {str(image)!r}}}])\n"
        "print(json.dumps(m.predict(df, params={'max_new_tokens': 3})))\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "MLFLOW_TRACKING_URI": stack.tracking_uri}
    proc = subprocess.run([sys.executable, "-c", code], cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out) == 1 and isinstance(out[0], str)


def _with_stack_env(stack, monkeypatch, tmp_path):
    """This process as a pod of the stack: its S3 credentials and endpoint in the environment, an empty cache."""
    import s3fs

    for k, v in s3_env(stack.s3_endpoint).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LMMS_CACHE", str(tmp_path / "cache"))
    s3fs.S3FileSystem.clear_instance_cache()  # filesystems built under another environment


def test_s3_data_gives_the_same_dataset_as_local_files(stack, monkeypatch, tmp_path):
    from components.config import RunConfig
    from components.data.prepare import prepare_dataset

    _with_stack_env(stack, monkeypatch, tmp_path)
    model = {"model_id": "tiny-qwen2-vl", "family": "qwen2_vl", "tiny": True}
    remote, _ = prepare_dataset(RunConfig(model=model, data=data_section(f"s3://{DATA_BUCKET}/{PREFIX}")))
    local, _ = prepare_dataset(RunConfig(model=model, data=data_section(str(stack.local_data))))
    assert len(remote.train) == TRAIN_ROWS and len(remote.eval) == EVAL_ROWS
    assert all(p.startswith(f"s3://{DATA_BUCKET}/{PREFIX}/media/") for s in remote.train for p in s.images + s.videos)
    assert sorted(remote.media_digests.values()) == sorted(local.media_digests.values())
    assert remote.content_hash() == local.content_hash()


def step_metadata(stack: CloudStack, pipeline: str, step: str) -> dict:
    """The run metadata of `step` in the last run of `pipeline`, read from the stack's ZenML store."""
    code = (
        "import json; from zenml.client import Client\n"
        f"run = Client().list_pipeline_runs(pipeline_name={pipeline!r}, sort_by='desc:created', size=1)[0]\n"
        f"print(json.dumps(dict(run.steps[{step!r}].run_metadata), default=str))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=stack.project, env=stack.env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_missing_s3_object_is_a_row_error_naming_the_object(stack, monkeypatch, tmp_path):
    from components.config import RunConfig
    from components.data.prepare import prepare_dataset
    from components.data.report import DatasetInvalid

    _with_stack_env(stack, monkeypatch, tmp_path)
    rows = [r for r in json.loads((stack.local_data / "train.json").read_text()) if isinstance(r.get("image"), str)]
    rows = rows[:3]
    rows[1] = {**rows[1], "id": "the-bad-row", "image": "nowhere/missing.png"}
    stack.s3().put_object(Bucket=DATA_BUCKET, Key="bad/train.json", Body=json.dumps(rows).encode())
    data = {**data_section(f"s3://{DATA_BUCKET}/{PREFIX}"), "train_path": f"s3://{DATA_BUCKET}/bad/train.json"}
    data.pop("eval_path")
    with pytest.raises(DatasetInvalid) as err:
        prepare_dataset(RunConfig(model={"model_id": "tiny-qwen2-vl", "family": "qwen2_vl", "tiny": True}, data=data))
    message = str(err.value)
    assert "the-bad-row" in message and f"s3://{DATA_BUCKET}/{PREFIX}/media/nowhere/missing.png" in message
    assert "not found" in message
    assert err.value.report.total == 3 and len(err.value.report.issues) == 1


def test_second_run_uploads_nothing_and_a_changed_image_only_itself(stack):
    config = cloud_config(stack, "media")
    config.write_text(config.read_text().replace("enable_cache: true", "enable_cache: false"))  # steps run each time
    figures = []
    for _ in range(2):
        start = time.monotonic()
        rc, out = stack.zenml("pipeline", "run", "tests.cloud_pipelines.media_only", "-c", str(config))
        assert rc == 0, out[-5000:]
        meta = step_metadata(stack, "media_only", "preprocess_media")
        figures.append((meta["uploaded_objects"], meta["uploaded_bytes"], meta["seconds"], time.monotonic() - start))
    assert figures[1][:2] == (0, 0), figures  # the second run at the latest finds every object in the store

    s3 = stack.s3()
    rows = json.loads((stack.local_data / "train.json").read_text())
    name = next(r["image"] for r in rows if isinstance(r.get("image"), str))
    key = f"{PREFIX}/media/{name}"
    original = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
    from io import BytesIO

    from PIL import Image

    changed = BytesIO()
    Image.new("RGB", Image.open(BytesIO(original)).size, "red").save(changed, format="PNG")
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=changed.getvalue())
    try:
        start = time.monotonic()
        rc, out = stack.zenml("pipeline", "run", "tests.cloud_pipelines.media_only", "-c", str(config))
        assert rc == 0, out[-5000:]
        meta = step_metadata(stack, "media_only", "preprocess_media")
        figures.append((meta["uploaded_objects"], meta["uploaded_bytes"], meta["seconds"], time.monotonic() - start))
    finally:
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=original)
    print("preprocess_media (uploaded objects, bytes, step seconds, run seconds):", figures)
    assert figures[2][0] == 1 and figures[2][1] > 0, figures


def test_sigkill_then_a_fresh_pod_resumes_from_the_mirrored_checkpoint(stack, monkeypatch, tmp_path, tiny_path):
    from safetensors.torch import load_file

    from components.train.launch import RESULT, write_job
    from components.train.mirror import remote_checkpoints
    from components.train.resume import run_dir
    from tests.train_jobs import config, image_rows

    _with_stack_env(stack, monkeypatch, tmp_path)
    dataset, media = image_rows(tmp_path)
    model_path = str(tiny_path("qwen2_vl"))
    schedule = {"epochs": 6, "save_steps": 3}  # 24 steps; the kill comes mid-run, after a mirrored checkpoint
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }

    def start(job: Path, log: Path) -> subprocess.Popen:
        with open(log, "w") as f:
            return subprocess.Popen(
                [sys.executable, "-m", "components.train.launch", str(job)], cwd=tmp_path, env=env, stdout=f, stderr=f
            )

    ref_cfg = config(tmp_path / "ref", **schedule)
    ref_out = run_dir(ref_cfg, dataset.content_hash(), model_path)
    reference = start(write_job(ref_cfg, model_path, dataset, media, ref_out), tmp_path / "ref.log")

    cfg = config(tmp_path / "pod", **schedule)
    out = run_dir(cfg, dataset.content_hash(), model_path)
    mirror = f"s3://{ARTIFACT_BUCKET}/zenml/lmms-checkpoints/{out.name}"
    job = tmp_path / "job.json"  # what the step hands every attempt (the pod's own disk goes with the pod)
    shutil.copy(write_job(cfg, model_path, dataset, media, out, mirror=mirror), job)
    proc = start(job, tmp_path / "killed.log")
    deadline = time.monotonic() + 600
    while not [s for s, _, done in remote_checkpoints(mirror) if done and s >= 9]:
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint mirrored"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "final").exists(), "killed too late: the run had finished"
    shutil.rmtree(out)  # the retry is a fresh pod: an empty disk
    mirrored = [s for s, _, done in remote_checkpoints(mirror) if done]

    retry = start(job, tmp_path / "retry.log")
    assert retry.wait(timeout=900) == 0, (tmp_path / "retry.log").read_text()[-3000:]
    assert reference.wait(timeout=900) == 0, (tmp_path / "ref.log").read_text()[-3000:]
    info = json.loads((out / "final" / "lmms_train.json").read_text())
    resumed = int(info["resumed_from"].split("-")[1])
    assert resumed >= 9 and resumed in mirrored and info["global_step"] == 24

    def weights(run: Path):
        return load_file(Path(json.loads((run / RESULT).read_text())["checkpoint"]) / "adapter_model.safetensors")

    ref, got = weights(ref_out), weights(out)
    assert ref.keys() == got.keys() and any("lora_B" in k for k in ref)
    diff = max((ref[k] - got[k]).abs().max().item() for k in ref)
    print(f"resumed from mirrored step {resumed} of 24; max |resumed - uninterrupted| = {diff:.3g}")
    assert diff <= 1e-6


def test_wrong_credentials_fail_validation_naming_the_bucket(stack, monkeypatch, tmp_path):
    import s3fs

    from components.config import RunConfig
    from components.data.prepare import prepare_dataset
    from components.storage import StorageError
    from tests.cloud_stack import ACCESS_KEY, SECRET_KEY, start_locked_s3

    server, endpoint, (key, secret) = start_locked_s3(tmp_path)
    try:
        cfg = RunConfig(
            model={"model_id": "tiny-qwen2-vl", "family": "qwen2_vl", "tiny": True},
            data={"train_path": "s3://lmms-locked/data/train.json", "image_folder": "s3://lmms-locked/media"},
        )
        for k, v in s3_env(endpoint).items():  # credentials this bucket does not accept
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("LMMS_CACHE", str(tmp_path / "cache"))
        s3fs.S3FileSystem.clear_instance_cache()
        with pytest.raises(StorageError) as err:
            prepare_dataset(cfg)
        message = str(err.value)
        assert "lmms-locked" in message and "denied" in message, message
        assert ACCESS_KEY not in message and SECRET_KEY not in message
        assert not (tmp_path / "cache" / "remote").exists() or not any((tmp_path / "cache" / "remote").rglob("*.json"))

        for k, v in s3_env(endpoint, key, secret).items():  # the right credentials read the same bucket
            monkeypatch.setenv(k, v)
        s3fs.S3FileSystem.clear_instance_cache()
        from components.data.remote import check_data_buckets

        check_data_buckets("s3://lmms-locked/data/train.json")
    finally:
        server.kill()
        s3fs.S3FileSystem.clear_instance_cache()
