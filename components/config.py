"""Typed configuration: the single source of truth for a fine-tuning run.

YAML files only select and override these fields; unknown keys are rejected with the path of the key.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

INFRA = Path(__file__).resolve().parent.parent / "infra"


def cache_root() -> Path:
    """Where lmms keeps its caches (tiny checkpoints, preprocessed media): $LMMS_CACHE, else ~/.cache/lmms-pipeline."""
    return Path(os.environ.get("LMMS_CACHE", Path.home() / ".cache" / "lmms-pipeline"))


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


class ConfigError(ValueError):
    """A config that cannot be used: `problems` holds one `path: message` line per problem, `source` the file."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__("\n".join([f"Invalid config {source}:", *(f"  {p}" for p in problems)]))


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The config class of the section at `loc` (a path of field names from RunConfig), None past a plain field."""
    cls: type[BaseModel] = RunConfig
    for part in loc:
        field = cls.model_fields.get(str(part))
        sub = field.annotation if field else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return None
        cls = sub
    return cls


def _field_paths(cls: type[BaseModel] | None = None, prefix: str = "") -> dict[str, list[str]]:
    """Every key of RunConfig by its last name: name -> its dotted paths (e.g. image_folder -> [data.image_folder])."""
    out: dict[str, list[str]] = {}
    for name, field in (cls or RunConfig).model_fields.items():
        out.setdefault(name, []).append(prefix + name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            for k, v in _field_paths(sub, f"{prefix}{name}.").items():
                out.setdefault(k, []).extend(v)
    return out


def _unknown_key(loc: tuple) -> str:
    """`unknown key`, with the sibling fields close to it (difflib), or the section where a key of that name lives."""
    parent, key = loc[:-1], str(loc[-1])
    cls = _model_at(parent)
    prefix = "".join(f"{p}." for p in parent)
    close = difflib.get_close_matches(key, list(cls.model_fields), n=3, cutoff=0.6) if cls else []
    if close:
        return f"unknown key (did you mean {' or '.join(prefix + c for c in close)}?)"
    elsewhere = [p for p in _field_paths().get(key, []) if p != prefix + key]
    if elsewhere:
        return f"unknown key here (it belongs in {' or '.join(elsewhere)})"
    if cls:
        return f"unknown key (known: {', '.join(cls.model_fields)})"
    return "unknown key"


def config_problems(err: ValidationError) -> list[str]:
    """One `path: message` line per pydantic error of a RunConfig validation."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(x) for x in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            msg = _unknown_key(loc)
        else:
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] != "missing" and isinstance(e.get("input"), str | int | float | bool):
                msg += f" (got {e['input']!r})"
        lines.append(f"{path}: {msg}")
    return lines


def parse_config(data: dict[str, Any] | None, source: str = "<dict>") -> RunConfig:
    """A RunConfig from its dict form; every problem at once in a ConfigError (a ValueError)."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): a mapping of sections expected, got {type(data).__name__}"])
    try:
        return RunConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(source, config_problems(err)) from None


# ZenML's `model:` (a ZenML Model) shares its name with the run config's `model` section.
_RUN_SECTIONS = set(RunConfig.model_fields)
_MODEL_KEYS = set(ModelConfig.model_fields)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; a missing file, a YAML syntax error or another top level is a ConfigError."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(str(path), [f"(file): cannot read it ({e.strerror or e})"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(str(path), [f"(file): not UTF-8 (byte {e.start}: {e.reason})"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "(file)"
        what = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(str(path), [f"{where}: not valid YAML: {what}"]) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(str(path), [f"(top level): a mapping expected, got {type(raw).__name__}"])
    return raw


def is_zenml_layout(raw: dict[str, Any]) -> bool:
    """A ZenML run config (`parameters:`, or a top-level key that is no run config section), not a bare RunConfig."""
    return "parameters" in raw or bool(set(raw) - _RUN_SECTIONS)


def zenml_layout_problems(raw: dict[str, Any]) -> list[str]:
    """Run config keys placed where ZenML reads its own keys: at the top level, or under ZenML's `model:`."""
    belongs = "run config keys belong under parameters.config"
    problems = [f"{key}: {belongs} (parameters.config.{key})" for key in raw if key in _RUN_SECTIONS - {"model"}]
    model = raw.get("model")
    if isinstance(model, dict):
        for key in model:
            if key in _MODEL_KEYS or key in _RUN_SECTIONS:
                dest = f"parameters.config.model.{key}" if key in _MODEL_KEYS else f"parameters.config.{key}"
                problems.append(
                    f"model.{key}: {belongs} ({dest}); the top-level `model:` is ZenML's Model (name, description, "
                    "version, ...)"
                )
    params = raw.get("parameters")
    if params is not None and not isinstance(params, dict):
        problems.append(f"parameters: a mapping expected, got {type(params).__name__}")
    elif params:
        problems += [f"parameters.{key}: {belongs} (parameters.config.{key})" for key in params if key in _RUN_SECTIONS]
    return problems


def load_config(path: str | Path, zenml: bool | None = None) -> RunConfig:
    """Load a run config from a YAML file: either a bare RunConfig, or a ZenML run config whose
    `parameters.config` holds it (so `zenml pipeline run -c` and `lmms` read the same file). `zenml=True`: the file
    must be a ZenML run config (what `-c` takes); None: either, told apart by its top-level keys.

    Every problem is reported at once, as `path: message` lines of a ConfigError (a ValueError)."""
    raw = read_yaml(path)
    if zenml or (zenml is None and is_zenml_layout(raw)):
        problems = zenml_layout_problems(raw)
        params = raw.get("parameters")
        config = params.get("config") if isinstance(params, dict) else None
        try:
            cfg = parse_config(config, str(path))
        except ConfigError as err:
            raise ConfigError(str(path), problems + err.problems) from None
        if problems:
            raise ConfigError(str(path), problems)
        return cfg
    return parse_config(raw, str(path))
