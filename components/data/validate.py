"""Dataset validation: every row is checked before training, and every bad row is named.

Per-row checks (structure, media files, model limits, literal special tokens, token length) produce `Issue`s, and
those alone decide which rows are valid. A Great Expectations suite runs over a per-row summary table as a second,
declarative view of the same data; its results are reported, not enforced.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from components.artifacts import Sample
from components.config import DataConfig
from components.data.expectations import MODALITIES, run_expectations, summarise_row
from components.data.media_checks import MediaChecker, pillow_pixel_limit
from components.data.report import DatasetInvalid, Issue, ValidationReport
from components.data.row_checks import (
    TokenLength,
    escape_sample,
    length_problems,
    limit_problems,
    shrink_to_fit,
    special_token_problem,
)
from components.data.rows import RowError, media_root, parse_row, read_rows
from components.storage import is_uri


def _fingerprint(row: dict) -> str:
    content = {k: v for k, v in row.items() if k != "id"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def validate_samples(
    path: str | Path,
    data_cfg: DataConfig,
    *,
    base: Path | None = None,
    model_limits: Any = None,
    token_length: TokenLength | None = None,
    special_tokens: Sequence[str] = (),
    max_length: int | None = None,
) -> tuple[list[Sample], ValidationReport]:
    """Check every row of a dataset file; returns the parsed samples (valid or not) and the report.

    A file that cannot be read at all raises data.DatasetFileError. `model_limits` is a models.Family or a dict with
    `name`, `images`, `multi_image`, `video`. `special_tokens` are rejected in any text, or escaped (see
    escape_special_tokens) when `data_cfg.literal_special_tokens == "escape"`.
    `token_length(sample) -> (num_tokens, num_supervised)` runs only on rows that passed every other check; a ValueError
    from it is recorded as that row's issue. With `data_cfg.on_overlength == "shrink"`, a row above `max_length` gets
    fewer frames / pixels (Sample.max_frames / max_pixels) until it fits, and is listed in `report.shrunk`.
    """
    rows = read_rows(path)
    image_root = media_root(data_cfg.image_folder, path, base)
    video_root = media_root(data_cfg.video_folder, path, base)

    def resolve_root(r: str) -> Path | str:
        if is_uri(r):
            return r
        root = Path(r)
        return (base / root if base is not None and not root.is_absolute() else root).resolve()

    roots = [resolve_root(r) for r in data_cfg.allowed_roots] if data_cfg.allowed_roots is not None else None
    check_media = MediaChecker(roots, data_cfg.max_image_pixels)
    reject_tokens = [t for t in special_tokens if t] if data_cfg.literal_special_tokens == "reject" else []
    escape_tokens = [t for t in special_tokens if t] if data_cfg.literal_special_tokens == "escape" else []
    escaped: list[int] = []

    samples: list[Sample] = []
    issues: list[Issue] = []
    table: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    duplicates: list[tuple[int, int]] = []
    shrunk: list[dict[str, Any]] = []
    with pillow_pixel_limit(data_cfg.max_image_pixels):
        for index, row in enumerate(rows):
            try:
                sample = parse_row(
                    row,
                    index,
                    data_cfg.user_key,
                    data_cfg.assistant_key,
                    data_cfg.system_key,
                    image_root,
                    video_root,
                )
            except RowError as e:
                issues.append(Issue(index, e.row_id, e.reason, e.kind))
                if isinstance(row, dict):
                    table.append(summarise_row(index, row, data_cfg, parse_ok=False, media_ok=None))
                continue
            samples.append(sample)
            if escape_tokens and escape_sample(sample, escape_tokens):
                escaped.append(index)
            media = [check_media("image", p) for p in sample.images] + [check_media("video", p) for p in sample.videos]
            media_problems = [p for p in media if p is not None]
            problems = media_problems + limit_problems(sample, model_limits)
            token_problem = special_token_problem(sample, reject_tokens)
            if token_problem:
                problems.append(token_problem)
            if not problems and token_length is not None:
                if data_cfg.on_overlength == "shrink" and max_length is not None:
                    fit_problems, record = shrink_to_fit(sample, token_length, max_length, data_cfg)
                    problems += fit_problems
                    if record is not None and not fit_problems:
                        shrunk.append(record)
                else:
                    problems += length_problems(sample, token_length, max_length)
            issues += [Issue(index, sample.id, reason, kind) for kind, reason in problems]
            table.append(summarise_row(index, row, data_cfg, parse_ok=True, media_ok=not media_problems))
            key = _fingerprint(row)
            if key in first_seen:
                duplicates.append((index, first_seen[key]))
            else:
                first_seen[key] = index

    bad = {i.index for i in issues}
    valid = [s for s in samples if s.index not in bad]
    modality_counts = Counter(s.modality for s in valid)
    gx_success, gx_results = run_expectations(table, model_limits)
    report = ValidationReport(
        source=str(path),
        total=len(rows),
        valid_indices=[s.index for s in valid],
        issues=issues,
        duplicates=duplicates,
        modality_counts={m: modality_counts[m] for m in MODALITIES},
        text_only_share=modality_counts["text"] / len(valid) if valid else 0.0,
        issue_counts=dict(Counter(i.kind for i in issues)),
        gx_success=gx_success,
        gx_results=gx_results,
        bad_rows={i: rows[i] for i in sorted(bad)},
        shrunk=shrunk,
        escaped=escaped,
        image_folder=str(image_root),
        video_folder=str(video_root),
    )
    return samples, report


def apply_policy(
    samples: list[Sample], report: ValidationReport, on_invalid: Literal["fail", "drop"]
) -> tuple[list[Sample], list[dict[str, Any]]]:
    """With "fail", raise DatasetInvalid if any row has an issue. With "drop", keep the valid samples and return the
    quarantine: one entry per dropped row, with its reasons, kinds and raw row."""
    if on_invalid not in ("fail", "drop"):
        raise ValueError(f"on_invalid must be 'fail' or 'drop', got {on_invalid!r}")
    if report.issues and on_invalid == "fail":
        raise DatasetInvalid(report)
    valid = set(report.valid_indices)
    quarantine = [
        {
            "index": index,
            "id": issues[0].row_id,
            "reasons": [i.reason for i in issues],
            "kinds": [i.kind for i in issues],
            "row": report.bad_rows.get(index),
        }
        for index, issues in report.issues_by_row().items()
    ]
    return [s for s in samples if s.index in valid], quarantine
