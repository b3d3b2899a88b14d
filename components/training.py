"""Fine-tuning with the HF Trainer and PEFT: LLM full / LoRA / QLoRA, vision encoder frozen / full / LoRA,
projector frozen / full. Checkpoints hold model (or adapter) + processor as safetensors."""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from components.collator import VLMCollator, stop_tokens
from components.config import RunConfig, TrainConfig
from components.data import Sample, to_messages
from components.models import Family, load_model, load_processor
from components.packing import PackingCollator

log = logging.getLogger(__name__)


class RowsDataset(Dataset):
    """Samples as collator rows; media come through `load_media` (the preprocessed cache in the pipeline)."""

    def __init__(self, samples: Sequence[Sample], load_image: Callable, load_video: Callable):
        self.samples = list(samples)
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


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def part_of(name: str, fam: Family) -> str:
    """Which part a parameter/module belongs to: the most specific matching prefix wins (a projector may sit
    inside the vision tower). Unlisted parameters (e.g. image_newline) go with the projector."""
    best, part = -1, "projector"
    for p_name, prefixes in (("llm", (*fam.llm, "lm_head")), ("vision", fam.vision), ("projector", fam.projector)):
        for p in prefixes:
            if _under(name, (p,)) and len(p) > best:
                best, part = len(p), p_name
    return part


def modes(cfg: TrainConfig) -> dict[str, str]:
    return {"llm": "lora" if cfg.llm == "qlora" else cfg.llm, "vision": cfg.vision, "projector": cfg.projector}


def quantization_config(cfg: TrainConfig, fam: Family, dtype: torch.dtype):
    if cfg.llm != "qlora":
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        llm_int8_skip_modules=[*fam.vision, *fam.projector, "lm_head"],
    )


def _wrappable(model: nn.Module, name: str) -> list[str]:
    """PEFT's modules_to_save cannot wrap a ModuleList/ModuleDict (e.g. Qwen3-VL's DeepStack mergers): use its
    children instead."""
    try:
        mod = model.get_submodule(name)
    except AttributeError:
        return [name]
    if isinstance(mod, nn.ModuleList | nn.ModuleDict):
        return [f"{name}.{c}" for c in mod._modules]
    return [name]


def apply_trainable(model: nn.Module, fam: Family, cfg: TrainConfig) -> nn.Module:
    """Freeze / LoRA-wrap / unfreeze each part as configured; returns the (possibly PEFT-wrapped) model."""
    m = modes(cfg)
    lora_parts = [p for p, mode in m.items() if mode == "lora"]
    if not lora_parts:
        for name, param in model.named_parameters():
            param.requires_grad = m[part_of(name, fam)] == "full"
        return model

    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.llm == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    targets: list[str] = []
    for name, module in model.named_modules():
        # A Linear subclass with its own forward (an MoE router returning scores and logits) is not the plain linear
        # map LoRA adds to.
        plain = isinstance(module, nn.Linear) and type(module).forward is nn.Linear.forward
        is_linear = plain or type(module).__name__.startswith("Linear4bit")
        # A rank-r update of a matrix with a side <= r is not low-rank (Gemma 3n's AltUp coefficient matrices)
        low_rank = is_linear and min(module.in_features, module.out_features) > cfg.lora.r
        if low_rank and name != "lm_head" and m[part_of(name, fam)] == "lora":
            targets.append(name)
    for part in lora_parts:  # a convolutional tower (MobileNetV5) has no nn.Linear: LoRA on its ungrouped Conv2d
        if not any(part_of(t, fam) == part for t in targets):
            convs = [n for n, mod in model.named_modules() if isinstance(mod, nn.Conv2d) and mod.groups == 1]
            targets += [n for n in convs if part_of(n, fam) == part]
    if not targets:
        raise ValueError(f"no nn.Linear found for LoRA under {lora_parts}")
    save: list[str] = []
    if m["projector"] == "full":
        save += list(fam.projector)
    if m["vision"] == "full":
        save += list(fam.vision)
    if m["llm"] == "full":
        save += [*fam.llm, "lm_head"]
    save = [s for s in save if not any(s != o and _under(s, (o,)) for o in save)]  # PEFT wants no nesting
    save = [c for s in save for c in _wrappable(model, s)]
    lcfg = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        bias=cfg.lora.bias,
        target_modules=targets,
        modules_to_save=save or None,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lcfg)
    # A trained copy may hold a nested part that is meant to stay frozen (vision full + projector frozen: Qwen's
    # merger sits inside model.visual); freeze it in the copy so it is saved unchanged.
    for name, param in model.named_parameters():
        if param.requires_grad and ".modules_to_save." in name:
            orig = re.sub(r"\.modules_to_save\.[^.]+(?=\.)", "", name.removeprefix("base_model.model."))
            param.requires_grad = m[part_of(orig, fam)] == "full"
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    return model


def count_trainable(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return train, total


@dataclass
class TrainResult:
    checkpoint: Path  # model or adapter + processor, safetensors
    is_adapter: bool
    base_model: str
    log_history: list[dict]
    metrics: dict


def load_for_training(cfg: RunConfig, model_path: str):
    dtype = pick_dtype(cfg.train.precision)
    from components.models import family_for_model_type, read_model_type

    fam = family_for_model_type(read_model_type(model_path, cfg.model.trust_remote_code))
    qcfg = quantization_config(cfg.train, fam, dtype)
    model, fam = load_model(
        model_path,
        dtype=dtype,
        trust_remote_code=cfg.model.trust_remote_code,
        quantization_config=qcfg,
        attn_implementation=cfg.model.attn_implementation,
        device_map="cpu" if qcfg is not None and not torch.cuda.is_available() else None,
    )
    processor = load_processor(model_path, cfg.model.trust_remote_code)
    return model, processor, fam


def training_args(cfg: TrainConfig, output_dir: Path, has_eval: bool, num_workers: int):
    from transformers import TrainingArguments

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
    model_path: str,
    train_ds: Dataset,
    eval_ds: Dataset | None,
    output_dir: str | Path,
    callbacks: Sequence = (),
) -> TrainResult:
    """Train and save the final model (or adapter) + processor under `output_dir/final`. With `train.resume`, picks
    up from the last complete checkpoint under `output_dir` (see components/resume.py). Runs in every process of a
    distributed launch (components/launch.py); rank 0 writes the files."""
    from transformers import set_seed

    from components.resume import CompletionMarker, drop_all, drop_incomplete, last_complete_checkpoint
    from components.zero3 import MediaBalancingCollator, is_zero3

    set_seed(cfg.train.seed)
    output_dir = Path(output_dir)
    model, processor, fam = load_for_training(cfg, model_path)
    model = apply_trainable(model, fam, cfg.train)
    n_train, n_total = count_trainable(model)
    log.info("trainable parameters: %d / %d (%.2f%%)", n_train, n_total, 100 * n_train / max(n_total, 1))
    collator = VLMCollator(processor, stop_tokens(processor, model.generation_config), cfg.train.max_length)
    trainer_cls, extra = fast_trainer(cfg.train, fam, collator, train_ds)
    if is_zero3(cfg.train.deepspeed_config):  # every rank must run the vision path(s) every step (components/zero3.py)
        collator = MediaBalancingCollator(collator, fam.video)
    if cfg.train.packing:
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
    is_adapter = (final / "adapter_config.json").exists()
    if rank0:
        (final / "training_args.bin").unlink(missing_ok=True)  # a pickle: checkpoints carry JSON only
        (final / "training_args.json").write_text(trainer.args.to_json_string())
        processor.save_pretrained(final)
        info = {
            "base_model": model_path,
            "family": fam.name,
            "is_adapter": is_adapter,
            "trust_remote_code": cfg.model.trust_remote_code,
            "world_size": world_size,
            "strategy": cfg.train.distributed.strategy,
            "global_step": trainer.state.global_step,
            "resumed_from": resume_from.name if resume_from else None,
        }
        (final / "lmms_train.json").write_text(json.dumps(info, indent=2))
        drop_all(output_dir)
    trainer.accelerator.wait_for_everyone()
    return TrainResult(final, is_adapter, model_path, trainer.state.log_history, metrics)


def fast_trainer(cfg: TrainConfig, fam: Family, collator: VLMCollator, train_ds: Dataset):
    """The Trainer class and its extra arguments for the packing / chunked-loss / length-grouping options."""
    from transformers import Trainer

    if cfg.packing and not fam.packing:
        raise ValueError(f"family {fam.name} cannot pack: {fam.notes}")
    if not (cfg.packing or cfg.chunked_loss or cfg.group_by_length or not fam.mixed_media_batches):
        return Trainer, {}
    from components.packing import sample_lengths
    from components.trainer import LmmsTrainer

    lengths = sample_lengths(train_ds, collator) if cfg.group_by_length else None
    return LmmsTrainer, {
        "chunked_loss": cfg.chunked_loss,
        "loss_chunk_size": cfg.loss_chunk_size,
        "lengths": lengths,
        "group_media": not fam.mixed_media_batches,
    }


def loss_curve_png(log_history: list[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
