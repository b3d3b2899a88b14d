"""Resume across pods: complete checkpoints mirrored to an object store (the artifact store, under the run key), and
the newest complete one pulled into an empty run directory before training.

A retried step on a cluster is a fresh pod with an empty disk: the `checkpoint-N/` folders of the attempt it
replaces are gone with that pod. `CheckpointMirror` (a TrainerCallback placed after the CompletionMarker, so it sees
the marker) uploads each complete checkpoint from rank 0 only, every file first and the marker last: a remote
checkpoint without its marker is a partial upload (the pod died mid-upload) and is never pulled. Older remote
checkpoints are deleted once a newer one is complete there. `pull_latest` downloads the newest complete remote
checkpoint into the run directory (into a temporary folder renamed at the end) when the local disk has none as new."""

from __future__ import annotations

import logging
import posixpath
import re
import shutil
from pathlib import Path

import fsspec
from transformers import TrainerCallback

from components.storage import filesystem, join
from components.train.resume import MARKER, is_complete, last_complete_checkpoint

log = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _fs(root: str, fs: fsspec.AbstractFileSystem | None) -> fsspec.AbstractFileSystem:
    return filesystem(root, fs) if "://" in root else (fs or fsspec.filesystem("file"))


def remote_checkpoints(root: str, fs: fsspec.AbstractFileSystem | None = None) -> list[tuple[int, str, bool]]:
    """(step, URI, complete) of every `checkpoint-N` under `root`, by step."""
    fs = _fs(root, fs)
    fs.invalidate_cache(root)  # object stores' filesystems cache listings; another process may have uploaded since
    try:
        entries = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        name = posixpath.basename(str(entry).rstrip("/"))
        if m := _CHECKPOINT.match(name):
            uri = join(root, name)
            found.append((int(m.group(1)), uri, fs.exists(join(uri, MARKER))))
    return sorted(found)


def upload_checkpoint(local: Path, root: str, fs: fsspec.AbstractFileSystem | None = None) -> str:
    """Upload a complete local checkpoint under `root/<its name>`: every file, then the marker."""
    fs = _fs(root, fs)
    target = join(root, local.name)
    files = sorted(p for p in local.rglob("*") if p.is_file() and p.name != MARKER)
    for p in files:
        dest = join(target, *p.relative_to(local).parts)
        if "://" not in dest:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
        fs.put_file(str(p), dest)
    fs.put_file(str(local / MARKER), join(target, MARKER))
    return target


def pull_latest(root: str, run_dir: Path, fs: fsspec.AbstractFileSystem | None = None) -> Path | None:
    """Download the newest complete remote checkpoint into `run_dir` unless a local complete one is as new; returns
    the checkpoint pulled (None when nothing was)."""
    fs = _fs(root, fs)
    complete = [(step, uri) for step, uri, done in remote_checkpoints(root, fs) if done]
    if not complete:
        return None
    step, uri = complete[-1]
    local = last_complete_checkpoint(run_dir)
    if local is not None and int(local.name.split("-")[1]) >= step:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / f"checkpoint-{step}"
    tmp = run_dir / f".checkpoint-{step}.pull"
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = fs._strip_protocol(uri).rstrip("/")
    for path in fs.find(uri):
        rel = str(path)[len(prefix) + 1 :]
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(tmp / rel))
    if not is_complete(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log.info("pulled %s from %s", target.name, uri)
    return target


def drop_remote(root: str, fs: fsspec.AbstractFileSystem | None = None, keep: int = 0) -> None:
    """Delete the remote checkpoints under `root` but the newest `keep` complete ones (and partial ones newer)."""
    fs = _fs(root, fs)
    found = remote_checkpoints(root, fs)
    complete = [step for step, _, done in found if done]
    floor = complete[-keep] if keep and len(complete) >= keep else None
    for step, uri, _ in found:
        if floor is None or step < floor:
            fs.rm(uri, recursive=True)


class CheckpointMirror(TrainerCallback):
    """After each save (and its completion marker), rank 0 uploads the checkpoint to `root`; older remote ones go."""

    def __init__(self, root: str, fs: fsspec.AbstractFileSystem | None = None):
        self.root, self.fs = root, fs
        self.uploaded: list[str] = []

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return control
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not is_complete(ckpt):
            log.warning("not mirroring %s: no completion marker", ckpt)
            return control
        self.uploaded.append(upload_checkpoint(ckpt, self.root, self.fs))
        drop_remote(self.root, self.fs, keep=1)
        return control
