"""Smoke-test inference: greedy generation on held-out rows, exact-match accuracy, an HTML report."""

from __future__ import annotations

import base64
import html
import io
import re
from collections import defaultdict
from collections.abc import Callable, Sequence

from components.artifacts import Sample
from components.data.rows import to_messages
from components.release.inference import generate, load_for_inference


def normalize(text: str) -> str:
    return re.sub(r"[^\w\s]", "", text).strip().lower()


def smoke_test(
    model_path: str,
    samples: Sequence[Sample],
    load_image: Callable,
    load_video: Callable,
    num_samples: int = 16,
    max_new_tokens: int = 16,
    trust_remote_code: bool | None = None,
) -> tuple[dict, list[dict]]:
    """Answer the first turn of up to `num_samples` held-out rows; returns metrics and per-row records."""
    model, processor = load_for_inference(model_path, trust_remote_code=trust_remote_code)
    records, per_kind = [], defaultdict(list)
    for s in list(samples)[:num_samples]:
        first = Sample(s.index, s.id, s.system_prompt, s.turns[:2], s.images, s.videos)
        msgs = to_messages(first)[:-1]
        n_img = sum(m.get("type") == "image" for msg in msgs for m in msg["content"])
        n_vid = sum(m.get("type") == "video" for msg in msgs for m in msg["content"])
        images = [load_image(p) for p in s.images[:n_img]]
        videos = [load_video(p) for p in s.videos[:n_vid]]
        out = generate(model, processor, msgs, images, videos, max_new_tokens)
        expected = s.turns[1][1]
        ok = normalize(out) == normalize(expected)
        per_kind[s.modality].append(ok)
        records.append(
            {
                "id": s.id,
                "prompt": s.turns[0][1],
                "expected": expected,
                "generated": out,
                "correct": ok,
                "image": images[0] if images else None,
                "modality": s.modality,
            }
        )
    n = len(records)
    metrics = {"smoke_samples": n, "smoke_accuracy": sum(r["correct"] for r in records) / max(n, 1)}
    metrics.update({f"smoke_accuracy_{k}": sum(v) / len(v) for k, v in per_kind.items()})
    return metrics, records


def _img_tag(image) -> str:
    if image is None:
        return ""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return f'<img width="96" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def smoke_html(records: list[dict], metrics: dict) -> str:
    rows = "".join(
        f"<tr style='background:{'#e8f5e9' if r['correct'] else '#ffebee'}'><td>{_img_tag(r['image'])}</td>"
        f"<td>{html.escape(r['modality'])}</td><td>{html.escape(r['prompt'])}</td>"
        f"<td>{html.escape(r['expected'])}</td><td>{html.escape(r['generated'])}</td></tr>"
        for r in records
    )
    summary = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
    return (
        f"<h2>Smoke test</h2><p>{html.escape(summary)}</p><table border='1' cellpadding='4'>"
        f"<tr><th>media</th><th>kind</th><th>prompt</th><th>expected</th><th>generated</th></tr>{rows}</table>"
    )
