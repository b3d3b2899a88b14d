"""The summary a finished `finetune` run ends with (`make demo` prints it): smoke accuracy overall and per modality,
the registered MLflow version and its aliases, the merged checkpoint's folder, and the commands to go on.

Plain data in, lines out; pipelines/runs.py reads a run's artifacts through the ZenML client and calls this."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from components.artifacts import Sample
from components.release.registry import PROJECT_TRACKING_URI

_PLACEHOLDER = re.compile(r"<(image|video)>\s*")


@dataclass
class RunSummary:
    run_name: str
    smoke_metrics: dict
    model_name: str
    version: int
    aliases: list[str]
    tracking_uri: str
    merged_dir: str  # an absolute local folder (transformers / `lmms infer`), or the artifact's remote URI
    example: Sample | None = None  # a held-out image row: the `lmms infer` example uses its image and prompt
    promotion: dict | None = field(default=None)


def example_row(samples: Iterable[Sample]) -> Sample | None:
    """The first held-out row with exactly one image and no video (the simplest thing to try), else any image row."""
    single = next((s for s in samples if len(s.images) == 1 and not s.videos), None)  # rows stream: none kept
    return single or next((s for s in samples if s.images), None)


def infer_alias(summary: RunSummary) -> str:
    """`@champion` when this version holds it, else its first alias, else `/<version>`."""
    if "champion" in summary.aliases:
        return "@champion"
    return f"@{summary.aliases[0]}" if summary.aliases else f"/{summary.version}"


def summary_lines(s: RunSummary) -> list[str]:
    m = s.smoke_metrics
    per_modality = sorted(
        (k.removeprefix("smoke_accuracy_"), v) for k, v in m.items() if k.startswith("smoke_accuracy_")
    )
    overall = f"{m['smoke_accuracy']:.3f}" if "smoke_accuracy" in m else "n/a"
    lines = [
        f"== {s.run_name}: finished ==",
        f"smoke accuracy: {overall} on {m.get('smoke_samples', '?')} held-out rows",
    ]
    lines += [f"  {kind}: {acc:.3f}" for kind, acc in per_modality]
    lines.append(f"registered model: {s.model_name} version {s.version}, aliases: {', '.join(s.aliases) or 'none'}")
    if s.promotion:
        verdict = "champion" if s.promotion.get("promoted") else "not promoted"
        lines.append(f"promotion: {verdict} ({s.promotion.get('reason', '')})")
    lines += [f"merged checkpoint: {s.merged_dir}", f"MLflow tracking URI: {s.tracking_uri}", "next:"]
    if s.example is not None:
        image = shlex.quote(s.example.images[0])
        prompt = shlex.quote(_PLACEHOLDER.sub("", s.example.turns[0][1]).strip())
        ref = f"models:/{s.model_name}{infer_alias(s)}"
        # not $MLFLOW_TRACKING_URI: MLflow sets it in this process once a client was made (mlflow.set_tracking_uri)
        uri = "" if s.tracking_uri == PROJECT_TRACKING_URI else f" --tracking-uri {shlex.quote(s.tracking_uri)}"
        lines.append(f"  lmms infer {ref}{uri} --image {image} --prompt {prompt}")
        lines.append(f"  lmms infer {shlex.quote(s.merged_dir)} --image {image} --prompt {prompt}")
    lines.append(f"  mlflow ui --backend-store-uri {shlex.quote(s.tracking_uri)}")
    return lines
