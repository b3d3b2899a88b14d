"""The pipeline on a stack that behaves like a cloud cluster (tests/cloud_stack.py): a real S3 API as artifact store and
data bucket, a real MLflow server as tracker and registry, every step in its own pod (empty HOME, TMPDIR,
$LMMS_CACHE, HF cache, working directory with a fresh copy of the code) that is deleted before the next starts.

One stack serves the whole module. ONE `finetune` pipeline run on it (`demo_run`: the demo config on a small slice of
the example data, one training step) serves every check that needs a trained model: all steps succeed in their own
pods, the model is registered and loads from a fresh process, the cold preprocessing uploaded every media object
(step metadata). Then two runs of the `prepare_data` pipeline (pipelines/prepare.py: the same validate and
preprocess steps, wired by the same code, a fraction of a `finetune` run's cost), the preprocessing step's cache
turned off in the run config so that it executes in a pod (the test fails on a `cached` step): the first uploads 0
objects, the second, after one image of the data bucket changed, exactly 1, read from each run's step metadata and
`media_cache` artifact.
The other checks call the library directly as a pod would (this process with the pod's S3 environment and an empty
$LMMS_CACHE), each on the same stack: s3:// data == local files (content hash), a missing object and refused
credentials as validation errors, SIGKILL of a training job and its retry in a fresh pod from the checkpoint mirrored
to the S3 artifact store.

The data is a slice of the example data uploaded to s3://lmms-data/demo/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.cloud_stack import ARTIFACT_BUCKET, DATA_BUCKET, CloudStack, s3_env, start_cloud_stack
from tests.zenml_cli import ROOT

STEPS = ["validate_dataset", "preprocess_media", "finetune", "merge_lora", "smoke_test", "register_model"]
TRAIN_ROWS, EVAL_ROWS = 8, 4  # every modality of the example data (image, several images, video, text)
PREFIX = "demo"
MEDIA_PREFIX = f"s3://{ARTIFACT_BUCKET}/zenml/lmms-media"  # steps/storage.py: MEDIA_PREFIX under the artifact store


def _slice(tmp: Path) -> Path:
    """A small slice of the example data (rows of every modality) with its media, as a user's local folder."""
    out = tmp / "local-data"
    (out / "media").mkdir(parents=True)
    names = set()
    for split, n in (("train", TRAIN_ROWS), ("eval", EVAL_ROWS)):
        rows = json.loads((ROOT / "example_data" / f"{split}.json").read_text())
        by_kind: dict[str, list] = {}
        for r in rows:
            image = r.get("image")
            kind = "video" if "video" in r else "text" if image is None else type(image).__name__  # str or list
            by_kind.setdefault(kind, []).append(r)
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


@pytest.fixture(scope="module")
def pod(stack, tmp_path_factory):
    """This process as a pod of the stack: its S3 credentials and endpoint in the environment (as a service account
    gives them), an empty $LMMS_CACHE; undone after the module."""
    import s3fs

    with pytest.MonkeyPatch.context() as mp:
        for k, v in s3_env(stack.s3_endpoint).items():
            mp.setenv(k, v)
        mp.setenv("LMMS_CACHE", str(tmp_path_factory.mktemp("pod-cache")))
        s3fs.S3FileSystem.clear_instance_cache()  # filesystems built under another environment
        yield mp
    s3fs.S3FileSystem.clear_instance_cache()


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


def cloud_config(stack: CloudStack, name: str, steps: dict | None = None, **train) -> Path:
    """The demo config on the S3 data, at its cheapest: one epoch of one batch, two smoke samples; `steps`: ZenML step
    configuration merged into its `steps:`."""
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    for step, options in (steps or {}).items():
        cfg.setdefault("steps", {}).setdefault(step, {}).update(options)
    c = cfg["parameters"]["config"]
    c["data"] = data_section(f"s3://{DATA_BUCKET}/{PREFIX}")
    c["train"].update(epochs=1, per_device_batch_size=TRAIN_ROWS, logging_steps=1, **train)
    c["smoke"]["num_samples"] = 2
    c["registry"]["model_name"] = "lmms-cloud"
    path = stack.tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_config(path: Path):
    """The RunConfig a config file gives the pipeline's steps."""
    from components.config import RunConfig

    return RunConfig.model_validate(yaml.safe_load(path.read_text())["parameters"]["config"])


@pytest.fixture(scope="module")
def demo_run(stack):
    """(rc, output, seconds, {step: its run metadata}) of the one pipeline run of the module."""
    start = time.monotonic()
    rc, out = stack.zenml("pipeline", "run", "pipelines.finetune.finetune", "-c", str(cloud_config(stack, "demo")))
    seconds = time.monotonic() - start
    return rc, out, seconds, run_metadata(stack, "finetune") if rc == 0 else {}


def newest_runs(stack: CloudStack, pipeline: str, n: int = 1, media_cache: bool = False) -> list[dict]:
    """The newest `n` runs of `pipeline`, oldest first, read from the stack's ZenML store in one process: each
    {"steps": {step: {"status": its execution status (`completed`, or `cached` for a step that did not run and carries
    an earlier run's outputs), "metadata": its run metadata}}}, with "media_cache": the mapping of its `media_cache`
    artifact if asked for."""
    code = (
        "import json; from zenml.client import Client\n"
        f"runs = Client().list_pipeline_runs(pipeline_name={pipeline!r}, sort_by='desc:created', size={n}).items\n"
        "out = []\n"
        "for run in reversed(runs):\n"
        "    steps = {n: {'status': s.status.value, 'metadata': dict(s.run_metadata)} for n, s in run.steps.items()}\n"
        "    out.append({'steps': steps})\n"
        f"    if {media_cache!r}:\n"
        "        out[-1]['media_cache'] = run.steps['preprocess_media'].outputs['media_cache'][0].load().mapping\n"
        "print(json.dumps(out, default=str))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=stack.project, env=stack.env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(runs) == n, runs
    return runs


def run_metadata(stack: CloudStack, pipeline: str) -> dict[str, dict]:
    """{step: run metadata} of the newest run of `pipeline`."""
    return {n: s["metadata"] for n, s in newest_runs(stack, pipeline)[0]["steps"].items()}


def failed_pod_log(stack: CloudStack) -> str:
    failed = [p for p in stack.pods() if p["rc"] != 0]
    return f"{failed[0]['step']}:\n{Path(failed[0]['log']).read_text()[-8000:]}" if failed else ""


def test_demo_pipeline_on_the_isolated_stack(stack, demo_run):
    rc, out, seconds, metadata = demo_run
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
    # the artifact store holds the media objects, every one uploaded by the (cold) preprocessing step, as its
    # metadata says; the finetune pod downloaded them through its own disk; no checkpoint is left mirrored
    media = stack.keys(ARTIFACT_BUCKET, "zenml/lmms-media/")
    assert media and all(k.endswith((".png", ".npz")) for k in media)
    pre = metadata["preprocess_media"]
    assert pre["uploaded_objects"] == len(media) == pre["files"] == pre["cache_misses"] and pre["uploaded_bytes"] > 0
    assert pre["media_store"] == MEDIA_PREFIX and pre["rows"] == TRAIN_ROWS + EVAL_ROWS
    assert metadata["finetune"]["media_downloaded_objects"] == len(media)
    assert metadata["finetune"]["checkpoint_mirror"].startswith(f"s3://{ARTIFACT_BUCKET}/zenml/lmms-checkpoints/")
    assert not stack.keys(ARTIFACT_BUCKET, "zenml/lmms-checkpoints/")
    print(f"cold preprocessing on the S3 stack: {pre['uploaded_objects']} objects, {pre['uploaded_bytes']} bytes, "
          f"{pre['seconds']} s")  # fmt: skip

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


def test_s3_data_gives_the_same_dataset_as_local_files(stack, pod):
    """The demo run's dataset as validation prepares it from s3:// in a pod (the same config as the run) and from the
    same files on a local disk."""
    from components.data.prepare import prepare_dataset

    cfg = run_config(cloud_config(stack, "demo"))
    remote, _ = prepare_dataset(cfg)
    local, _ = prepare_dataset(cfg.model_copy(update={"data": cfg.data.model_copy(update=data_section(
        str(stack.local_data)))}))  # fmt: skip
    assert len(remote.train) == TRAIN_ROWS and len(remote.eval) == EVAL_ROWS
    assert {s.modality for s in remote.train} == {"text", "image", "multi_image", "video"}
    media = [p for s in remote.samples() for p in s.images + s.videos]
    assert media and all(p.startswith(f"s3://{DATA_BUCKET}/{PREFIX}/media/") for p in media)
    assert sorted(remote.media_digests.values()) == sorted(local.media_digests.values())
    assert remote.content_hash() == local.content_hash()


def prepare_run(stack: CloudStack, config: Path) -> tuple[list[str], float]:
    """One `prepare_data` pipeline run on the stack: (the steps that ran in pods, seconds)."""
    before = len(stack.pods())
    start = time.monotonic()
    rc, out = stack.zenml("pipeline", "run", "pipelines.prepare.prepare_data", "-c", str(config))
    seconds = time.monotonic() - start
    assert rc == 0, failed_pod_log(stack) or out[-6000:]
    return [p["step"] for p in stack.pods()[before:]], seconds


def test_later_runs_upload_nothing_then_only_the_changed_image(stack, demo_run):
    """Two `prepare_data` runs (validate + preprocess, wired as in `finetune`) on the stack after the demo run, the
    preprocessing step's cache turned off in the run config, so it really runs in a pod: the first uploads nothing,
    the second, after one image of the bucket changed, that image's object only. Read from the runs' step metadata."""
    assert demo_run[0] == 0
    files = demo_run[3]["preprocess_media"]["files"]
    config = cloud_config(stack, "prepare", steps={"preprocess_media": {"enable_cache": False}})
    media = stack.keys(ARTIFACT_BUCKET, "zenml/lmms-media/")

    # the step executes (a cached step gets no pod); validation's dataset is the demo run's (cached, no pod)
    ran, warm_seconds = prepare_run(stack, config)
    assert ran == ["preprocess_media"], ran
    assert stack.keys(ARTIFACT_BUCKET, "zenml/lmms-media/") == media

    s3 = stack.s3()
    row = next(r for r in json.loads((stack.local_data / "train.json").read_text()) if isinstance(r.get("image"), str))
    key = f"{PREFIX}/media/{row['image']}"
    uri = f"s3://{DATA_BUCKET}/{key}"
    original = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
    changed = BytesIO()
    Image.new("RGB", Image.open(BytesIO(original)).size, "red").save(changed, format="PNG")
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=changed.getvalue())
    try:
        ran, edited_seconds = prepare_run(stack, config)
    finally:
        s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=original)
    # the data changed: validation runs again, then preprocessing
    assert ran == ["validate_dataset", "preprocess_media"], ran

    warm, edited = newest_runs(stack, "prepare_data", 2, media_cache=True)
    status = {n: s["status"] for n, s in warm["steps"].items()}
    assert status == {"validate_dataset": "cached", "preprocess_media": "completed"}, status
    assert {n: s["status"] for n, s in edited["steps"].items()} == dict.fromkeys(status, "completed")
    pre, pre_edited = (r["steps"]["preprocess_media"]["metadata"] for r in (warm, edited))
    print(f"prepare_data on the S3 stack, warm: {pre['uploaded_objects']} objects uploaded, {pre['seconds']} s "
          f"preprocessing, {warm_seconds:.0f} s run; one image changed: {pre_edited['uploaded_objects']} object, "
          f"{pre_edited['uploaded_bytes']} bytes, {pre_edited['seconds']} s, {edited_seconds:.0f} s run")  # fmt: skip
    assert (pre["uploaded_objects"], pre["uploaded_bytes"], pre["cache_misses"]) == (0, 0, 0)
    assert pre["cache_hits"] == pre["files"] == files
    assert (pre_edited["uploaded_objects"], pre_edited["cache_misses"], pre_edited["cache_hits"]) == (1, 1, files - 1)
    assert pre_edited["uploaded_bytes"] > 0
    # the one new object in the artifact store is the changed image's, the only entry of the mapping that moved
    new = sorted(set(stack.keys(ARTIFACT_BUCKET, "zenml/lmms-media/")) - set(media))
    assert [f"s3://{ARTIFACT_BUCKET}/{k}" for k in new] == [edited["media_cache"][uri]]
    before, after = warm["media_cache"], edited["media_cache"]
    assert before.keys() == after.keys() and [k for k in before if before[k] != after[k]] == [uri]


def test_missing_s3_object_is_a_row_error_naming_the_object(stack, pod):
    from components.config import RunConfig
    from components.data.prepare import prepare_dataset
    from components.data.report import DatasetInvalid

    rows = [r for r in json.loads((stack.local_data / "train.json").read_text()) if isinstance(r.get("image"), str)]
    rows = [*rows[:2], {**rows[0], "id": "the-bad-row", "image": "nowhere/missing.png"}]
    stack.s3().put_object(Bucket=DATA_BUCKET, Key="bad/train.json", Body=json.dumps(rows).encode())
    data = {**data_section(f"s3://{DATA_BUCKET}/{PREFIX}"), "train_path": f"s3://{DATA_BUCKET}/bad/train.json"}
    data.pop("eval_path")
    with pytest.raises(DatasetInvalid) as err:
        prepare_dataset(RunConfig(model={"model_id": "tiny-qwen2-vl", "family": "qwen2_vl", "tiny": True}, data=data))
    message = str(err.value)
    assert "the-bad-row" in message and f"s3://{DATA_BUCKET}/{PREFIX}/media/nowhere/missing.png" in message
    assert "not found" in message
    assert err.value.report.total == 3 and len(err.value.report.issues) == 1


def test_sigkill_then_a_fresh_pod_resumes_from_the_mirrored_checkpoint(stack, pod, tmp_path, tiny_path):
    from safetensors.torch import load_file

    from components.train.launch import JOB_DATASET, RESULT, write_job
    from components.train.mirror import remote_checkpoints
    from components.train.resume import run_dir
    from tests.train_jobs import config, image_rows

    dataset, media = image_rows(tmp_path)
    model_path = str(tiny_path("qwen2_vl"))
    schedule = {"epochs": 3, "save_steps": 3}  # 12 steps; the kill comes mid-run, after a mirrored checkpoint
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
    # what the step hands every attempt: the job file and its dataset shards (the pod's own disk goes with the pod)
    written, attempt = write_job(cfg, model_path, dataset, media, out, mirror=mirror), tmp_path / "attempt"
    attempt.mkdir()
    job = Path(shutil.copy(written, attempt / written.name))
    shutil.copytree(written.parent / JOB_DATASET, attempt / JOB_DATASET)
    proc = start(job, tmp_path / "killed.log")
    deadline = time.monotonic() + 600
    while not [s for s, _, done in remote_checkpoints(mirror) if done and s >= 3]:
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
    assert resumed >= 3 and resumed in mirrored and info["global_step"] == 12

    def weights(run: Path):
        return load_file(Path(json.loads((run / RESULT).read_text())["checkpoint"]) / "adapter_model.safetensors")

    ref, got = weights(ref_out), weights(out)
    assert ref.keys() == got.keys() and any("lora_B" in k for k in ref)
    diff = max((ref[k] - got[k]).abs().max().item() for k in ref)
    print(f"resumed from mirrored step {resumed} of 12; max |resumed - uninterrupted| = {diff:.3g}")
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
