"""Two ranks, DeepSpeed ZeRO-3, batches of different modalities on each rank in the same step.

Run by tests/test_zero3.py as `torchrun --nproc_per_node 2 tests/zero3_mixed.py OUT_DIR` (CPU, gloo). Each rank's
batch (one row) follows SCHEDULE[step][rank], whatever indices the sampler hands out, so that in most steps the ranks
disagree: image vs text-only, video vs image, text-only vs video, image+video vs text-only. Training goes through
components.training.train, i.e. the HF Trainer with the DeepSpeed config the pipeline ships (infra/ds_zero3.json).
Each rank writes OUT_DIR/rank{r}.json with what it saw, the losses and which trained tensors changed, and
OUT_DIR/rank{r}.safetensors with its trained tensors after training, gathered from the ZeRO-3 shards (every rank holds
the whole tensors then: the ranks' files must be equal).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
from pathlib import Path

import deepspeed
import torch
from safetensors.torch import save_file
from torch.utils.data import Dataset
from transformers import TrainerCallback

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.artifacts import Sample  # noqa: E402
from components.config import parse_config  # noqa: E402
from components.data import media  # noqa: E402
from components.data.rows import to_messages  # noqa: E402
from components.models.tiny.build import build_tiny  # noqa: E402
from components.train.recipe import train  # noqa: E402

SCHEDULE = [
    ("image", "text"),
    ("video", "image"),
    ("text", "video"),
    ("image", "video"),
    ("both", "text"),
    ("text", "image"),
    ("video", "text"),
    ("text", "text"),
]
MEDIA = ROOT / "example_data" / "media" / "train"


class ScheduledRows(Dataset):
    """Row k that this rank is asked for has modality SCHEDULE[k][rank] (k counts this rank's requests)."""

    def __init__(self, rank: int, world: int):
        self.rank, self.world, self.count, self.seen = rank, world, 0, []
        self.image = media.load_image(sorted(MEDIA.glob("*.png"))[0], max_pixels=56 * 56)
        self.video = media.load_video(sorted(MEDIA.glob("*.mp4"))[0], num_frames=2, max_pixels=56 * 56)[0]

    def __len__(self) -> int:
        return len(SCHEDULE) * self.world

    def __getitem__(self, i: int) -> dict:
        kind = SCHEDULE[self.count % len(SCHEDULE)][self.rank]
        self.count += 1
        self.seen.append(kind)
        question = {"text": "Say hi.", "image": "<image>\nColour?", "video": "<video>\nWhich way?",
                    "both": "<image><video>\nSame?"}[kind]  # fmt: skip
        sample = Sample(i, f"{kind}-{i}", None, [("user", question), ("assistant", "right")])
        return {
            "index": i,
            "messages": to_messages(sample),
            "images": [self.image] if kind in ("image", "both") else [],
            "videos": [self.video] if kind in ("video", "both") else [],
        }


def gathered_trainable(model) -> dict[str, torch.Tensor]:
    """The trainable tensors, whole: ZeRO-3 partitions every parameter over the ranks (a collective, on every rank)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    with deepspeed.zero.GatheredParameters(list(params.values()), modifier_rank=None):
        return {n: p.detach().clone() for n, p in params.items()}


class TrainedWeights(TrainerCallback):
    """The trainable tensors at the start and at the end of training, gathered on every rank."""

    def __init__(self):
        self.before: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.before = gathered_trainable(model)

    def on_train_end(self, args, state, control, model=None, **kw):
        self.after = gathered_trainable(model)


def main(out_dir: str) -> None:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints where a rank waits
    if os.environ.get("LMMS_DUMP_STACKS_AFTER"):  # a hang prints every rank's stack instead of waiting silently
        faulthandler.dump_traceback_later(float(os.environ["LMMS_DUMP_STACKS_AFTER"]), exit=True)
    torch.set_num_threads(1)
    cfg = parse_config(
        {
            "model": {"model_id": "tiny-qwen2-vl", "family": "qwen2_vl", "tiny": True},
            "data": {"num_workers": 0},
            "train": {
                "llm": "lora",
                "vision": "frozen",
                "projector": "full",
                "per_device_batch_size": 1,
                "max_steps": len(SCHEDULE),
                "logging_steps": 1,
                "eval_each_epoch": False,
                "warmup_ratio": 0.0,
                "precision": "fp32",
                "deepspeed": str(ROOT / "infra" / "ds_zero3.json"),
                "learning_rate": 1e-3,
            },
        }  # fmt: skip
    )
    if os.environ.get("LMMS_ZERO3_UNBALANCED"):  # negative control: train without the balancing collator
        import components.train.recipe

        components.train.recipe.MediaBalancingCollator = lambda collator, takes_video: collator
    dataset = ScheduledRows(rank, world)
    weights = TrainedWeights()
    result = train(cfg, str(build_tiny("qwen2_vl")), dataset, None, Path(out_dir) / "train", callbacks=[weights])
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    unchanged = [n for n, t in weights.before.items() if torch.equal(t, weights.after[n])]
    save_file({n: t.contiguous() for n, t in weights.after.items()}, str(Path(out_dir) / f"rank{rank}.safetensors"))
    report = {"rank": rank, "seen": dataset.seen, "losses": losses, "steps": len(losses),
              "final": str(result.checkpoint), "trained": sorted(weights.after), "unchanged": unchanged,
              "shapes": {n: list(t.shape) for n, t in weights.after.items()}}  # fmt: skip
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
