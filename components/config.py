"""Typed configuration: the single source of truth for a fine-tuning run.

YAML files only select and override these fields; unknown keys are rejected with the path of the key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

INFRA = Path(__file__).resolve().parent.parent / "infra"


def cache_root() -> Path:
    """Where lmms keeps its caches (tiny checkpoints, preprocessed media): $LMMS_CACHE, else ~/.cache/lmms-pipeline;
    absolute (a relative $LMMS_CACHE against the current folder)."""
    return Path(os.environ.get("LMMS_CACHE") or Path.home() / ".cache" / "lmms-pipeline").expanduser().absolute()


def deepspeed_stage(deepspeed: str | Path | dict | None) -> int:
    """The ZeRO stage a DeepSpeed config (a JSON path, or the dict it holds) selects; 0 without one."""
    if not deepspeed:
        return 0
    try:
        ds = deepspeed if isinstance(deepspeed, dict) else json.loads(Path(deepspeed).read_text())
        return int((ds.get("zero_optimization") or {}).get("stage", 0))
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"cannot read the ZeRO stage of the DeepSpeed config {deepspeed}: {err}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ModelConfig(_Strict):
    model_id: str = Field("tiny-qwen2-vl", description="An id from `lmms models`, a hub path, or a local checkpoint.")
    family: str | None = Field(None, description="Family name; inferred from the checkpoint's config when omitted.")
    tiny: bool = Field(False, description="Build a tiny random checkpoint of `family` offline instead of loading one.")
    trust_remote_code: bool = Field(False, description="Allow code shipped with the checkpoint (off by default).")
    revision: str | None = None
    attn_implementation: str | None = Field(
        None, description="e.g. sdpa, flash_attention_2; None lets transformers pick."
    )


class DataConfig(_Strict):
    train_path: str = "example_data/train.json"
    eval_path: str | None = "example_data/eval.json"
    image_folder: str | None = "example_data/media"
    video_folder: str | None = "example_data/media"
    allowed_roots: list[str] | None = Field(
        None, description="If set, every media file must resolve inside one of these."
    )
    user_key: str = "human"
    assistant_key: str = "gpt"
    system_key: str = "system"
    num_frames: int = Field(8, ge=1, description="Frames sampled uniformly from each video.")
    video_fps: float | None = Field(None, gt=0, description="Cap on sampled frames per second of video.")
    min_pixels: int | None = Field(None, ge=1)
    max_pixels: int | None = Field(
        None, ge=1, description="Images larger than this are downscaled once, in preprocessing."
    )
    max_image_pixels: int = Field(
        8192 * 8192, description="Decoded images above this are rejected (decompression bombs)."
    )
    on_invalid: Literal["fail", "drop"] = "fail"
    on_overlength: Literal["reject", "shrink"] = Field(
        "reject",
        description="A row longer than train.max_length (media tokens included) is rejected, or kept with fewer video "
        "frames, then fewer pixels, until it fits (reported; preprocessing and training use the shrunk settings).",
    )
    literal_special_tokens: Literal["reject", "escape"] = Field(
        "reject", description="What to do with a row whose text contains the tokenizer's special tokens."
    )
    num_workers: int = Field(2, ge=0)


class LoraConfig(_Strict):
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    bias: Literal["none", "all", "lora_only"] = "none"


class DistributedConfig(_Strict):
    """How many processes train and how they share the model. One process is a plain in-process call; more are
    started through accelerate's launcher (torchrun underneath: NCCL on GPUs, gloo on CPU)."""

    strategy: Literal["ddp", "zero2", "zero3"] = Field(
        "ddp",
        description="ddp: a full replica per process; zero2: DeepSpeed ZeRO-2 (optimizer + gradients sharded); "
        "zero3: DeepSpeed ZeRO-3 (parameters sharded too). DeepSpeed JSONs: infra/ds_zero{2,3}.json.",
    )
    num_processes: int | Literal["auto"] = Field(
        "auto", description="Processes per node; auto = the number of visible GPUs (1 on CPU)."
    )
    num_nodes: int = Field(1, ge=1, description="Nodes; each runs num_processes (node rank from $NODE_RANK).")
    main_process_ip: str | None = Field(None, description="Rank 0's address for multi-node ($MASTER_ADDR if unset).")
    main_process_port: int = Field(0, ge=0, description="Rendezvous port; 0 picks a free one (single node).")

    @field_validator("num_processes")
    @classmethod
    def _positive(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("num_processes must be >= 1 or 'auto'")
        return v


class TrainConfig(_Strict):
    llm: Literal["lora", "qlora", "full", "frozen"] = "lora"
    vision: Literal["frozen", "lora", "full"] = "frozen"
    projector: Literal["frozen", "full"] = "full"
    lora: LoraConfig = LoraConfig()
    epochs: float = 1.0
    max_steps: int = -1
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    max_length: int = 2048
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in backward: LLM decoder layers and vision-tower blocks."
    )
    packing: bool = Field(
        False, description="Padding-free packing: each batch's samples in one row, attention confined per sample."
    )
    pack_max_tokens: int | None = Field(
        None, ge=1, description="Token budget per packed row; a batch over it spills into more rows (in order)."
    )
    group_by_length: bool = Field(False, description="Batch samples of similar length (the lighter option).")
    chunked_loss: bool = Field(
        False, description="Cross-entropy over supervised positions only, in chunks: never the full logits."
    )
    loss_chunk_size: int = Field(256, ge=1, description="Rows of logits alive at once with chunked_loss.")
    distributed: DistributedConfig = DistributedConfig()
    deepspeed: str | None = Field(
        None, description="A custom DeepSpeed JSON; overrides the one distributed.strategy picks (infra/ds_zero*.json)."
    )
    save_steps: int | None = Field(
        None,
        ge=1,
        description="Checkpoint (weights, optimizer, scheduler, RNG, data position) every N steps; "
        "None = once per epoch.",
    )
    resume: bool = Field(True, description="Resume from the run directory's last complete checkpoint, if any.")
    seed: int = 42
    logging_steps: int = 5
    eval_each_epoch: bool = True
    output_dir: str = "outputs/run"
    report_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        # The stage is read only where it decides something: a custom DeepSpeed JSON is not opened otherwise.
        if self.llm == "qlora" and self.zero_stage == 3:
            raise ValueError("QLoRA cannot be combined with DeepSpeed ZeRO-3; use ZeRO-2 or no DeepSpeed.")
        if self.packing and self.zero_stage == 3:
            raise ValueError(
                "train.packing cannot be combined with DeepSpeed ZeRO-3 (train.distributed.strategy: zero3, or a "
                "train.deepspeed JSON with zero_optimization.stage 3): under ZeRO-3 every batch may get a masked "
                "dummy row carrying the media it lacks (components/train/balancing.py), which the packed layout "
                "and its M-RoPE positions do not account for. Set train.packing: false, or train without ZeRO-3 "
                "(train.distributed.strategy: ddp or zero2, and no stage-3 train.deepspeed JSON)."
            )
        if self.llm == "frozen" and self.vision == "frozen" and self.projector == "frozen":
            raise ValueError("Nothing to train: llm, vision and projector are all frozen.")
        return self

    @property
    def deepspeed_config(self) -> str | None:
        """The DeepSpeed JSON this run uses: `deepspeed` if set, else the shipped one for a ZeRO strategy."""
        if self.deepspeed or self.distributed.strategy == "ddp":
            return self.deepspeed
        return str(INFRA / f"ds_{self.distributed.strategy}.json")

    @property
    def zero_stage(self) -> int:
        """The ZeRO stage of `deepspeed_config` (0 without DeepSpeed); reads a custom JSON."""
        return deepspeed_stage(self.deepspeed_config)


class SmokeConfig(_Strict):
    num_samples: int = 16
    max_new_tokens: int = 16


class RegistryConfig(_Strict):
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default sqlite:///<repo>/mlflow.db.")
    experiment: str = "lmms-finetune"
    model_name: str = "lmms-demo"
    alias: str | None = Field("candidate", description="Alias set on each newly registered version.")


class PromotionConfig(_Strict):
    enabled: bool = Field(False, description="Run the promotion step at the end of `finetune`.")
    metric: str = Field("smoke_accuracy", description="Run metric compared between candidate and champion.")
    higher_is_better: bool = Field(True, description="False for losses (e.g. eval_loss).")
    margin: float = Field(0.0, ge=0, description="The candidate must beat the champion by more than this.")


class RunConfig(_Strict):
    model: ModelConfig = ModelConfig(model_id="tiny-qwen2-vl", family="qwen2_vl", tiny=True)
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    smoke: SmokeConfig = SmokeConfig()
    registry: RegistryConfig = RegistryConfig()
    promotion: PromotionConfig = PromotionConfig()


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"Invalid config {source}:"]
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any] | None, source: str = "<dict>") -> RunConfig:
    try:
        return RunConfig.model_validate(data or {})
    except ValidationError as err:
        raise ValueError(_format_errors(err, source)) from None


def load_config(path: str | Path) -> RunConfig:
    """Load a run config from a YAML file: either a bare RunConfig, or a ZenML run config whose
    `parameters.config` holds it (so `zenml pipeline run -c` and `lmms` read the same file)."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if "parameters" in raw:
        raw = (raw.get("parameters") or {}).get("config") or {}
    return parse_config(raw, str(path))
