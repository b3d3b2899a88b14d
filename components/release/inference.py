"""Load a merged or adapter checkpoint and generate, the way a user would with plain transformers + peft; find the
checkpoint a reference names (a directory, a ZenML checkpoint artifact's folder, `models:/<name>@<alias>`)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import mlflow
import torch
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from peft import PeftModel

from components.config import cache_root
from components.data.collator import adds_special_tokens, apply_template, inference_prompt
from components.models.loading import ModelRef
from components.release.registry import absolute_uri, default_tracking_uri

log = logging.getLogger(__name__)
_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
COMPLETE = ".lmms-downloaded"


def checkpoint_dir(path: str | Path) -> Path:
    """The folder holding a checkpoint's files: the folder itself, or for a ZenML `checkpoint` / `merged_model`
    artifact folder (its URI: `checkpoint.json` beside `files/`) its `files/`."""
    p = Path(str(path).removeprefix("file://")).expanduser().absolute()
    if not p.is_dir():
        raise ValueError(f"{path}: not a directory")
    if (p / "checkpoint.json").is_file() and (p / "files").is_dir():
        return p / "files"
    if not any((p / f).is_file() for f in ("config.json", "adapter_config.json")):
        raise ValueError(
            f"{path}: not a checkpoint (no config.json or adapter_config.json, and not a ZenML checkpoint artifact "
            "folder with checkpoint.json and files/)"
        )
    return p


def registered_checkpoint(ref: str, tracking_uri: str | None = None) -> Path:
    """The checkpoint of the registered model `models:/<name>@<alias>` (or `models:/<name>/<version>`): its
    `checkpoint` artifact, downloaded once into the cache (`<cache_root>/registry/`). The registry is `tracking_uri`,
    else `$MLFLOW_TRACKING_URI`, else the project's `mlflow.db`."""
    m = _REGISTERED.match(ref)
    if m is None:
        raise ValueError(f"{ref}: expected models:/<name>@<alias> or models:/<name>/<version>")
    uri = absolute_uri(tracking_uri or default_tracking_uri())
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = m["name"]
    try:
        mv = (
            client.get_model_version_by_alias(name, m["alias"])
            if m["alias"]
            else client.get_model_version(name, m["version"])
        )
        source = client.get_model_version_download_uri(name, mv.version)
    except MlflowException as err:
        raise ValueError(f"{ref}: {err.message} (MLflow tracking URI {uri})") from None
    key = hashlib.sha256(f"{uri}\n{name}\n{mv.version}\n{mv.run_id}".encode()).hexdigest()[:16]
    dest = cache_root() / "registry" / f"{name}-v{mv.version}-{key}"
    if not (dest / COMPLETE).is_file():
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{dest.name}.", dir=dest.parent))
        log.info("downloading %s (%s v%s) from %s into %s", ref, name, mv.version, uri, dest)
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp), tracking_uri=uri))
        (tmp / COMPLETE).write_text(str(local.relative_to(tmp)))  # the model's folder inside `dest`
        tmp.rename(dest)
    model_dir = dest / (dest / COMPLETE).read_text().strip()
    artifacts = Model.load(str(model_dir / "MLmodel")).flavors.get("python_function", {}).get("artifacts", {})
    if "checkpoint" not in artifacts:
        raise ValueError(f"{ref}: {name} v{mv.version} has no `checkpoint` artifact (not registered by lmms)")
    return checkpoint_dir(model_dir / artifacts["checkpoint"]["path"])


def resolve_checkpoint(ref: str | Path, tracking_uri: str | None = None) -> str:
    """A local checkpoint folder (absolute) for `models:/...` or a folder (see `checkpoint_dir`); anything else is
    passed on as it is (a hub path)."""
    ref = str(ref)
    if ref.startswith("models:/"):
        return str(registered_checkpoint(ref, tracking_uri))
    if Path(ref.removeprefix("file://")).expanduser().exists():
        return str(checkpoint_dir(ref))
    return ref


def _zenml_lookup(*args: str, cwd: str | Path | None = None) -> dict | None:
    """Ask pipelines/runs.py (ZenML's side: the library imports no ZenML) in a subprocess; None where ZenML or a
    ZenML repository is not there."""
    proc = subprocess.run([sys.executable, "-m", "pipelines.runs", *args], capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        log.info("ZenML lookup %s failed: %s", args, proc.stderr.strip()[-500:])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def resolve_infer_ref(ref: str, tracking_uri: str | None = None, project: str | Path | None = None) -> str:
    """The local checkpoint folder `lmms infer REF` loads: REF is a checkpoint folder (or a ZenML checkpoint
    artifact's folder), `models:/<name>@<alias>` / `models:/<name>/<version>` from the MLflow registry (--tracking-uri,
    else $MLFLOW_TRACKING_URI, else the active ZenML stack's MLflow tracker, else the project's mlflow.db), a ZenML
    artifact (`merged_model`, `merged_model:3`, its id or URI), or a hub path (`org/name`). ZenML is asked in
    `project` (its repository; default: the working directory), in a subprocess (the library imports no ZenML)."""
    if ref.startswith("models:/"):
        if tracking_uri is None and not os.environ.get("MLFLOW_TRACKING_URI"):
            tracking_uri = (_zenml_lookup("tracking-uri", cwd=project) or {}).get("tracking_uri")
        return resolve_checkpoint(ref, tracking_uri)
    if Path(ref.removeprefix("file://")).expanduser().exists():
        return resolve_checkpoint(ref)
    found = _zenml_lookup("artifact", ref, cwd=project)
    if found and found.get("path"):
        print(f"ZenML artifact {found['name']} version {found['version']}: {found['path']}", file=sys.stderr)
        return found["path"]
    if ref.count("/") == 1 and not ref.startswith((".", "/", "~")):
        return ref  # a hub path
    raise ValueError(
        f"{ref}: not a checkpoint folder, a ZenML artifact of the active ZenML repository (name, name:version, id or "
        "URI), models:/<name>@<alias> or a hub path (org/name)"
    )


def load_for_inference(path: str | Path, dtype: torch.dtype = torch.float32, trust_remote_code: bool | None = None):
    """Returns (model, processor). Adapter checkpoints are attached to their base model with PEFT. Remote code runs
    only when asked, or when the checkpoint was trained with the per-model opt-in (recorded in its CheckpointMeta)."""
    ref = ModelRef.from_path(path, trust_remote_code)
    base = ref.base
    if base is None:
        model = ref.load_model(dtype)
    else:
        model = PeftModel.from_pretrained(base.load_model(dtype), ref.path)
    model.eval()
    if torch.cuda.is_available():
        model.to("cuda")
    return model, ref.load_processor()


@torch.no_grad()
def generate(
    model,
    processor,
    messages: list[dict],
    images: Sequence = (),
    videos: Sequence = (),
    max_new_tokens: int = 32,
) -> str:
    """Greedy generation for one conversation whose last message is a user turn."""
    text = apply_template(processor, messages, add_generation_prompt=True)
    text = inference_prompt(processor.tokenizer, text)
    kwargs: dict = {}
    if images:
        kwargs["images"] = [list(images)]
    if videos:
        kwargs["videos"] = list(videos)
        kwargs["do_sample_frames"] = False
    inputs = processor(
        text=[text], return_tensors="pt", add_special_tokens=adds_special_tokens(processor.tokenizer, text), **kwargs
    ).to(model.device)
    if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :]
    return processor.tokenizer.decode(new, skip_special_tokens=True).strip()
