"""Typed configuration: the single source of truth for a fine-tuning run.

YAML files only select and override these fields; unknown keys are rejected with the path of the key.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUndefined

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
    revision: str | None = Field(
        None, description="Hub revision (branch, tag or commit) of `model_id`; every from_pretrained gets it."
    )
    attn_implementation: str | None = Field(
        None, description="e.g. sdpa, flash_attention_2; None lets transformers pick."
    )


EXAMPLE_DATA = {
    "train_path": "example_data/train.json",
    "eval_path": "example_data/eval.json",
    "image_folder": "example_data/media",
    "video_folder": "example_data/media",
}


Modality = Literal["text", "image", "multi_image", "video"]


class DataConfig(_Strict):
    """Without a `train_path`, the bundled example data with its eval file and media folder (the demo). A config that
    names its own `train_path` gets none of the example's eval file or folders: its relative media paths resolve
    against its own `image_folder` / `video_folder`, else the data file's own folder."""

    train_path: str = Field(
        EXAMPLE_DATA["train_path"],
        description="Training rows, LLaVA-style JSON or JSONL (docs/dataset.md); a local path or an "
        "`s3://` / `gs://` / `az://` URI (credentials from the environment, docs/deploy.md).",
    )
    eval_path: str | None = Field(
        None, description="Held-out rows (eval loss, smoke test); `example_data/eval.json` with the default train_path."
    )
    image_folder: str | None = Field(
        None,
        description="Relative image paths resolve here (relative to the working directory; a URI folder: under it); "
        "none = the data file's own folder; `example_data/media` with the default train_path.",
    )
    video_folder: str | None = Field(
        None, description="Relative video paths resolve here; as image_folder (`example_data/media` with the default)."
    )
    allowed_roots: list[str] | None = Field(
        None, description="If set, every media file must resolve inside one of these."
    )
    user_key: str = Field("human", description="`from` value of user turns.")
    assistant_key: str = Field("gpt", description="`from` value of assistant turns (the supervised ones).")
    system_key: str = Field("system", description="`from` value of a system turn.")
    num_frames: int = Field(8, ge=1, description="Frames sampled uniformly from each video.")
    video_fps: float | None = Field(None, gt=0, description="Cap on sampled frames per second of video.")
    min_pixels: int | None = Field(
        None, ge=1, description="Images smaller than this are upscaled once, in preprocessing."
    )
    max_pixels: int | None = Field(
        None, ge=1, description="Images larger than this are downscaled once, in preprocessing."
    )
    max_image_pixels: int = Field(
        8192 * 8192, description="Decoded images above this are rejected (decompression bombs)."
    )
    on_invalid: Literal["fail", "drop"] = Field(
        "fail", description="Invalid rows fail the run (naming every bad row), or are dropped into the quarantine list."
    )
    on_overlength: Literal["reject", "shrink"] = Field(
        "reject",
        description="A row longer than train.max_length (media tokens included) is rejected, or kept with fewer video "
        "frames, then fewer pixels, until it fits (reported; preprocessing and training use the shrunk settings).",
    )
    literal_special_tokens: Literal["reject", "escape"] = Field(
        "reject", description="What to do with a row whose text contains the tokenizer's special tokens."
    )
    num_workers: int = Field(
        2, ge=0, description="Processes for validation's per-row checks, media preprocessing and data loading."
    )
    max_dropped_fraction: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Most rows of a split that may be invalid (per-row checks and expectations together); above it the "
        "run fails under either on_invalid policy (a Great Expectations expectation). 1.0 = no limit.",
    )
    min_modality_fraction: dict[Modality, float] | None = Field(
        None,
        description="Least share of each named modality among a split's kept rows, e.g. `{video: 0.05}`; below it the "
        "run fails under either on_invalid policy (a Great Expectations expectation). Modalities: text, image, "
        "multi_image, video.",
    )

    @field_validator("min_modality_fraction")
    @classmethod
    def _fractions(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        bad = [f"{m}: {f}" for m, f in (v or {}).items() if not 0.0 <= f <= 1.0]
        if bad:
            raise ValueError("each share must be between 0 and 1, got " + ", ".join(bad))
        return v

    @model_validator(mode="before")
    @classmethod
    def _example_data(cls, data: Any) -> Any:
        # the example's eval file and folders come only with the example's train file, never with a user's
        if isinstance(data, dict) and "train_path" not in data:
            return {**EXAMPLE_DATA, **data}
        return data


class LoraConfig(_Strict):
    r: int = Field(16, description="LoRA rank, on every `nn.Linear` of the parts set to lora / qlora.")
    alpha: int = Field(32, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, description="Dropout on the LoRA input.")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases train (PEFT's `bias`).")


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
    llm: Literal["lora", "qlora", "full", "frozen"] = Field(
        "lora", description="The language model: LoRA, QLoRA (4-bit NF4 base + LoRA), full, or frozen."
    )
    vision: Literal["frozen", "lora", "full"] = Field("frozen", description="The vision encoder.")
    projector: Literal["frozen", "full"] = Field("full", description="The vision-to-language projector.")
    lora: LoraConfig = Field(LoraConfig(), description="LoRA settings of the parts set to lora / qlora.")
    epochs: float = Field(1.0, description="Training epochs (fractions allowed); max_steps overrides.")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps; -1 = run `epochs`.")
    per_device_batch_size: int = Field(4, description="Rows per batch per process (train and eval).")
    gradient_accumulation_steps: int = Field(1, description="Batches per optimizer step.")
    learning_rate: float = Field(2e-4, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.03, description="Share of the steps spent in linear warm-up.")
    lr_scheduler: str = Field("cosine", description="A transformers scheduler type (cosine, linear, constant, ...).")
    max_length: int = Field(
        2048, description="Token budget per row, media tokens included; longer rows: data.on_overlength."
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="Training dtype; auto = bf16 on a GPU that supports it, else fp32."
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in backward: LLM decoder layers and vision-tower blocks."
    )
    packing: Literal["auto"] | bool = Field(
        "auto",
        description="Padding-free packing: each batch's samples in one row, attention confined per sample (positions "
        "restart per sample, M-RoPE included). auto = pack where the model's family can (the `packing` column of "
        "docs/supported_models.md) and nothing forbids it (DeepSpeed ZeRO-3), else length-grouped batches; true = "
        "pack or fail naming the family's reason; false = never. The run logs the batching it used "
        "(`batching` in the finetune step's metadata). One of: `auto`, `true`, `false`.",
    )
    pack_max_tokens: int | None = Field(
        None, ge=1, description="Token budget per packed row; a batch over it spills into more rows (in order)."
    )
    group_by_length: Literal["auto"] | bool = Field(
        "auto",
        description="Batch samples of similar length (measured once before training); auto = exactly when the run "
        "does not pack. One of: `auto`, `true`, `false`.",
    )
    chunked_loss: bool = Field(
        True,
        description="Cross-entropy over supervised positions only, in chunks: never the full logits (the model's own "
        "loss where logits are soft-capped or scaled after the head).",
    )
    loss_chunk_size: int = Field(256, ge=1, description="Rows of logits alive at once with chunked_loss.")
    distributed: DistributedConfig = Field(
        DistributedConfig(), description="Processes and how they share the model: docs/distributed.md."
    )
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
    seed: int = Field(42, description="Seed of the model init, data order and dropout.")
    logging_steps: int = Field(5, ge=1, description="Log the training loss every N steps (the loss_curve artifact).")
    eval_each_epoch: bool = Field(True, description="Evaluate on the eval split at the end of every epoch.")
    output_dir: str = Field(
        "outputs/run", description="Run directories go under here: `<output_dir>/<key of config, data, model>`."
    )
    report_to: list[str] = Field(
        default_factory=list,
        description="transformers integrations to report to (e.g. [tensorboard]); none by default.",
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        # The stage is read only where it decides something: a custom DeepSpeed JSON is not opened otherwise.
        if self.llm == "qlora" and self.zero_stage == 3:
            raise ValueError("QLoRA cannot be combined with DeepSpeed ZeRO-3; use ZeRO-2 or no DeepSpeed.")
        if self.packing is True and self.zero_stage == 3:  # auto: does not pack under ZeRO-3
            raise ValueError(
                "train.packing cannot be combined with DeepSpeed ZeRO-3 (train.distributed.strategy: zero3, or a "
                "train.deepspeed JSON with zero_optimization.stage 3): under ZeRO-3 every batch may get a masked "
                "dummy row carrying the media it lacks (components/train/balancing.py), which the packed layout "
                "and its M-RoPE positions do not account for. Set train.packing: auto or false, or train without "
                "ZeRO-3 (train.distributed.strategy: ddp or zero2, and no stage-3 train.deepspeed JSON)."
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
    num_samples: int = Field(16, description="Held-out rows the smoke test answers (the first N of the eval split).")
    max_new_tokens: int = Field(16, description="Generation budget per answer.")


class RegistryConfig(_Strict):
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; none = the active stack's MLflow tracker in the pipeline, else "
        "$MLFLOW_TRACKING_URI, else `sqlite:///<project root>/mlflow.db`; always made absolute.",
    )
    experiment: str = Field("lmms-finetune", description="MLflow experiment of the run.")
    model_name: str = Field("lmms-demo", description="Registered model name in the MLflow registry.")
    alias: str | None = Field("candidate", description="Alias set on each newly registered version.")


class PromotionConfig(_Strict):
    enabled: bool = Field(False, description="Run the promotion step at the end of `finetune`.")
    metric: str = Field("smoke_accuracy", description="Run metric compared between candidate and champion.")
    higher_is_better: bool = Field(True, description="False for losses (e.g. eval_loss).")
    margin: float = Field(0.0, ge=0, description="The candidate must beat the champion by more than this.")


class RunConfig(_Strict):
    model: ModelConfig = Field(
        ModelConfig(model_id="tiny-qwen2-vl", family="qwen2_vl", tiny=True),
        description="The model to fine-tune; without a `model` section, the demo's tiny Qwen2-VL "
        "(`family: qwen2_vl, tiny: true`).",
    )
    data: DataConfig = Field(DataConfig(), description="Data files, media folders and validation policy.")
    train: TrainConfig = Field(
        TrainConfig(),
        description="What trains, optimisation, checkpoints and resume after a retry (`steps.finetune.retry`); "
        "by default packed batches and the chunked loss where the family allows, measured by `lmms bench` "
        "(docs/benchmarks.md).",
    )
    smoke: SmokeConfig = Field(SmokeConfig(), description="The smoke test's generation on held-out rows.")
    registry: RegistryConfig = Field(RegistryConfig(), description="MLflow tracking and registration.")
    promotion: PromotionConfig = Field(
        PromotionConfig(), description="`champion` moves only for a better candidate (docs/deploy.md)."
    )


TABLE_BEGIN = "<!-- config table: generated from components/config.py by `python -m components.config --readme` -->"
TABLE_END = "<!-- end of config table -->"


def _choices(annotation: Any) -> list[str]:
    """The allowed values of a Literal (or an optional one), as written in YAML."""
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _choices(args[0]) if len(args) == 1 else []  # `Literal[...] | None`; an int-or-"auto" says so itself


def _yaml(value: Any) -> str:
    if value is None:
        return "none"
    return f"`{yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix('...').strip()}`"


def config_table_markdown() -> str:
    """The config reference as a markdown table: every RunConfig field (nested sections flattened to dotted keys) with
    its default and its description, read from the typed config itself (README.md carries it; a test keeps it
    current)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key, ann = prefix + name, field.annotation
            meaning = (field.description or "").replace("|", "\\|")
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                rows.append(f"| **{key}** | | {meaning} |")
                walk(ann, key + ".")
                continue
            default = field.default_factory() if field.default is PydanticUndefined else field.default
            choices = _choices(ann)
            if choices:
                meaning += " One of: " + ", ".join(f"`{c}`" for c in choices) + "."
            rows.append(f"| `{key}` | {_yaml(default)} | {meaning.strip()} |")

    walk(RunConfig, "")
    return "\n".join(rows) + "\n"


def with_config_table(text: str) -> str:
    """`text` (README.md) with the part between the config-table markers replaced by config_table_markdown()."""
    begin, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"the config-table markers are missing: {TABLE_BEGIN!r} ... {TABLE_END!r}")
    return text[: begin + len(TABLE_BEGIN)] + "\n" + config_table_markdown() + text[end:]


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


if __name__ == "__main__":
    # `python -m components.config` prints the config table; `--readme` rewrites it in README.md
    if sys.argv[1:] == ["--readme"]:
        readme = Path(__file__).resolve().parent.parent / "README.md"
        readme.write_text(with_config_table(readme.read_text()))
    else:
        print(config_table_markdown(), end="")


def config_for_data_file(
    cfg: RunConfig,
    data_path: str,
    image_folder: str | None = None,
    video_folder: str | None = None,
    model: str | None = None,
) -> RunConfig:
    """The run config `lmms validate` (and the UI's Data tab) checks `data_path` with: the config's data and model
    sections, the file alone as the train split, every bad row failing.

    The config's media folders belong to the config's own data files; another file's relative media paths resolve
    against the folders given here, else its own folder (never against the example data's)."""
    own = {os.path.abspath(p) for p in (cfg.data.train_path, cfg.data.eval_path) if p}
    folders = {} if os.path.abspath(data_path) in own else {"image_folder": None, "video_folder": None}
    data = cfg.data.model_copy(update={"train_path": data_path, "eval_path": None, "on_invalid": "fail", **folders})
    if image_folder is not None:
        data.image_folder = data.video_folder = image_folder
    if video_folder is not None:
        data.video_folder = video_folder
    cfg = cfg.model_copy(update={"data": data, "model": cfg.model.model_copy()})
    if model:
        cfg.model.model_id, cfg.model.tiny, cfg.model.family = model, False, None
    return cfg
