"""Resumable training: a stable run directory per (config, data, model), and checkpoints that count only once
complete.

The HF Trainer writes `checkpoint-N/` file by file (weights or adapter, optimizer, scheduler, RNG state of every
rank, trainer state with the data position). A process killed halfway leaves a directory that looks like a
checkpoint. `CompletionMarker` writes `lmms_complete.json` into it after every rank has finished writing, and
`last_complete_checkpoint` only ever returns a directory that carries the marker; incomplete ones are deleted before
resuming. The Trainer keeps two checkpoints (`save_total_limit=2`), so the previous complete one survives while the
next is being written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import torch.distributed as dist
from transformers import TrainerCallback

from components.config import RunConfig

log = logging.getLogger(__name__)

MARKER = "lmms_complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def run_dir(cfg: RunConfig, data_key: str, model_path: str) -> Path:
    """`<train.output_dir>/<key>`: the same for a retry of the same step (same config, data and base model), so the
    retry finds the checkpoints of the attempt it replaces. `resume` itself is not part of the key."""
    train = cfg.train.model_dump(mode="json", exclude={"resume"})
    payload = json.dumps(
        {"model": cfg.model.model_dump(mode="json"), "data": cfg.data.model_dump(mode="json"), "train": train},
        sort_keys=True,
    )
    key = hashlib.sha256(f"{payload}\n{data_key}\n{model_path}".encode()).hexdigest()[:16]
    return Path(cfg.train.output_dir) / key


def checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """`checkpoint-N` directories under `output_dir`, by step."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return sorted(found)


def is_complete(checkpoint: str | Path) -> bool:
    return (Path(checkpoint) / MARKER).is_file()


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    complete = [p for _, p in checkpoints(output_dir) if is_complete(p)]
    return complete[-1] if complete else None


def drop_incomplete(output_dir: str | Path) -> list[Path]:
    """Delete checkpoint directories without the marker (left by a killed run); returns what was deleted."""
    dropped = [p for _, p in checkpoints(output_dir) if not is_complete(p)]
    for p in dropped:
        log.warning("removing incomplete checkpoint %s", p)
        shutil.rmtree(p, ignore_errors=True)
    return dropped


def drop_all(output_dir: str | Path) -> None:
    """After a finished run: the final model is saved, the intermediate checkpoints are no longer needed."""
    for _, p in checkpoints(output_dir):
        shutil.rmtree(p, ignore_errors=True)


class CompletionMarker(TrainerCallback):
    """Marks `checkpoint-N` complete once every rank has written its part (`on_save` runs after the Trainer has
    saved weights, optimizer, scheduler, RNG states and trainer state)."""

    def on_save(self, args, state, control, **kwargs):
        if dist.is_available() and dist.is_initialized():
            dist.barrier()  # every rank's RNG state / DeepSpeed shards are on disk
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            tmp = ckpt / f".{MARKER}.tmp"
            tmp.write_text(json.dumps({"global_step": state.global_step, "epoch": state.epoch}))
            tmp.replace(ckpt / MARKER)  # atomic: the marker is there whole or not at all
        return control
