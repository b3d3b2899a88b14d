"""The training recipe, top to bottom: load the model and processor, choose what trains, build the collator and the
Trainer, resume, train, save the final model (or adapter) + processor as safetensors with its CheckpointMeta."""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainingArguments, set_seed

from components.artifacts import CheckpointMeta, Sample
from components.config import RunConfig, TrainConfig
from components.data.collator import VLMCollator
from components.data.prepare import run_stop_tokens
from components.data.rows import to_messages
from components.models.family import Family
from components.models.loading import ModelRef
from components.train.attention import use_packed_sdpa
from components.train.balancing import MediaBalancingCollator
from components.train.loss import chunked_loss_applies
from components.train.packing import Batching, PackingCollator, resolve_batching, sample_lengths
from components.train.parts import apply_trainable, count_trainable, quantization_config
from components.train.resume import CompletionMarker, drop_all, drop_incomplete, last_complete_checkpoint
from components.train.trainer import LmmsTrainer

log = logging.getLogger(__name__)


class RowsDataset(Dataset):
    """Samples as collator rows; media come through `load_image` / `load_video` (the preprocessed cache in the
    pipeline). `samples` is any sequence, read one row at a time: a list, or the pipeline's lazily read shards
    (components.artifacts.ShardedRows, through components.data.prepare.cached_rows), never copied whole."""

    def __init__(self, samples: Sequence[Sample], load_image: Callable, load_video: Callable):
        self.samples = samples
        self.load_image, self.load_video = load_image, load_video

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        return {
            "index": s.index,
            "messages": to_messages(s),
            "images": [self.load_image(p) for p in s.images],
            "videos": [self.load_video(p) for p in s.videos],
        }


def pick_dtype(precision: str) -> torch.dtype:
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    return torch.float32


@dataclass
class TrainResult:
    checkpoint: Path  # model or adapter + processor, safetensors
    is_adapter: bool
    base_model: str
    log_history: list[dict]
    metrics: dict


def model_ref(cfg: RunConfig, model: ModelRef | str | Path | None = None) -> ModelRef:
    """The run's model: `cfg.model` resolved, or a given checkpoint path under the run's model settings."""
    if isinstance(model, ModelRef):
        return model
    if model is None:
        return ModelRef.from_config(cfg.model)
    # another checkpoint than the configured one: its family comes from its own config, not from `model.family`
    return ModelRef.from_config(cfg.model.model_copy(update={"model_id": str(model), "tiny": False, "family": None}))


def load_for_training(cfg: RunConfig, model: ModelRef | str | Path | None = None):
    """(model, processor, family) as the run trains them (QLoRA: the LLM in 4 bits)."""
    ref = model_ref(cfg, model)
    dtype = pick_dtype(cfg.train.precision)
    qcfg = quantization_config(cfg.train, ref.entry, dtype)
    device_map = "cpu" if qcfg is not None and not torch.cuda.is_available() else None
    return ref.load_model(dtype, qcfg, device_map), ref.load_processor(), ref.entry


def training_args(cfg: TrainConfig, output_dir: Path, has_eval: bool, num_workers: int):
    dtype = pick_dtype(cfg.precision)
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_batch_size,
        per_device_eval_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type=cfg.lr_scheduler,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        eval_strategy="epoch" if has_eval and cfg.eval_each_epoch else "no",
        save_strategy="steps" if cfg.save_steps else "epoch",
        save_steps=cfg.save_steps,
        save_total_limit=2,  # keeps the last complete checkpoint while the next one is written (components/resume)
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        deepspeed=cfg.deepspeed_config,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=cfg.report_to,
        remove_unused_columns=False,
        dataloader_num_workers=num_workers,
        use_cpu=not torch.cuda.is_available(),
        label_names=["labels"],
    )


def train(
    cfg: RunConfig,
    model: ModelRef | str | Path | None,
    train_ds: Dataset,
    eval_ds: Dataset | None,
    output_dir: str | Path,
    callbacks: Sequence = (),
) -> TrainResult:
    """Train and save the final model (or adapter) + processor under `output_dir/final`. With `train.resume`, picks
    up from the last complete checkpoint under `output_dir` (see components/train/resume.py). Runs in every process of a
    distributed launch (components/train/launch.py); rank 0 writes the files."""
    set_seed(cfg.train.seed)
    output_dir = Path(output_dir)
    ref = model_ref(cfg, model)
    model, processor, fam = load_for_training(cfg, ref)
    batching = resolve_batching(cfg.train, fam)
    # packed rows on sdpa: one causal attention call per sample, not a dense block mask (components/train/attention.py)
    attention = use_packed_sdpa(model) if batching.packing else model.config._attn_implementation
    model = apply_trainable(model, fam, cfg.train)
    n_train, n_total = count_trainable(model)
    log.info("trainable parameters: %d / %d (%.2f%%)", n_train, n_total, 100 * n_train / max(n_total, 1))
    collator = VLMCollator(processor, run_stop_tokens(ref, processor), cfg.train.max_length)  # as validation counts
    # ZeRO-3 partitions the LM head outside forward: the model's own loss there (components/train/loss.py)
    chunked = cfg.train.chunked_loss and cfg.train.zero_stage != 3 and chunked_loss_applies(model)
    loss = "chunked" if chunked else "full_logits"
    log.info("batching: %s (%s); attention: %s; loss: %s", batching.mode, batching.reason, attention, loss)
    trainer_cls, extra = fast_trainer(cfg.train, fam, batching, collator, train_ds)
    if cfg.train.zero_stage == 3:  # every rank runs the vision path(s) every step (train/balancing.py)
        collator = MediaBalancingCollator(collator, fam.video)
    if batching.packing:
        collator = PackingCollator(collator, cfg.train.pack_max_tokens)
    trainer = trainer_cls(
        **extra,
        model=model,
        args=training_args(cfg.train, output_dir, eval_ds is not None, cfg.data.num_workers),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=collator,
        processing_class=processor,
        callbacks=[CompletionMarker(), *callbacks],
    )
    resume_from = None
    if cfg.train.resume:
        if trainer.is_world_process_zero():
            drop_incomplete(output_dir)
        trainer.accelerator.wait_for_everyone()
        resume_from = last_complete_checkpoint(output_dir)
        if resume_from is not None:
            log.info("resuming from %s", resume_from)
    out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    metrics = dict(out.metrics)
    if eval_ds is not None:
        metrics.update(trainer.evaluate())
    final = output_dir / "final"
    rank0 = trainer.is_world_process_zero()
    if rank0:
        shutil.rmtree(final, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(final))  # every rank: ZeRO-3 gathers the shards
    world_size = trainer.args.world_size
    metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    metrics.update(trainable_params=n_train, world_size=world_size, global_step=trainer.state.global_step)
    metrics.update(batching=batching.mode, attention=attention, loss=loss)  # the path the run took (step metadata)
    is_adapter = (final / "adapter_config.json").exists()
    if rank0:
        (final / "training_args.bin").unlink(missing_ok=True)  # a pickle: checkpoints carry JSON only
        (final / "training_args.json").write_text(trainer.args.to_json_string())
        processor.save_pretrained(final)
        CheckpointMeta(
            family=fam.name,
            base_model=ref.path,
            is_adapter=is_adapter,
            trust_remote_code=ref.trust_remote_code,
            revision=ref.revision,
            world_size=world_size,
            strategy=cfg.train.distributed.strategy,
            global_step=trainer.state.global_step,
            resumed_from=resume_from.name if resume_from else None,
        ).write(final)
        drop_all(output_dir)
    trainer.accelerator.wait_for_everyone()
    return TrainResult(final, is_adapter, ref.path, trainer.state.log_history, metrics)


def fast_trainer(cfg: TrainConfig, fam: Family, batching: Batching, collator: VLMCollator, train_ds: Dataset):
    """The Trainer class and its extra arguments for the batching (`resolve_batching`) and the chunked loss."""
    if not (batching.packing or cfg.chunked_loss or batching.group_by_length or not fam.mixed_media_batches):
        return Trainer, {}
    lengths = sample_lengths(train_ds, collator) if batching.group_by_length else None
    return LmmsTrainer, {
        "chunked_loss": cfg.chunked_loss,
        "loss_chunk_size": cfg.loss_chunk_size,
        "lengths": lengths,
        "group_media": not fam.mixed_media_batches,
    }


def loss_curve_png(log_history: list[dict], path: str | Path) -> Path:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the backend

    tr = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    ev = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if tr:
        ax.plot(*zip(*tr, strict=True), label="train loss")
    if ev:
        ax.plot(*zip(*ev, strict=True), "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
