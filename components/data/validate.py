"""Dataset validation: every row is checked before training, and every bad row is named.

Per-row checks (structure, media files, model limits, literal special tokens, token length) produce `Issue`s. Then
the Great Expectations suites (components/data/expectations.py) hold the dataset-level rules over a per-row summary
table: a failed expectation names rows (duplicate ids, ...) that become issues of their own, or names none (the share
of invalid rows, each modality's share) and fails the run under either policy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from components.artifacts import Sample
from components.config import DataConfig
from components.data.expectations import MODALITIES, run_expectations, summarise_row
from components.data.forking import reset_signals
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
from components.data.validation_cache import ValidationCache, row_key
from components.storage import is_uri


def _content(row: dict) -> str:
    """The row's JSON without its id (keys sorted): what makes two rows duplicates."""
    return json.dumps({k: v for k, v in row.items() if k != "id"}, sort_keys=True, ensure_ascii=False)


def _fingerprint(row: dict, content: str | None = None) -> str:
    return hashlib.sha256((content if content is not None else _content(row)).encode()).hexdigest()


@dataclass
class RowCache:
    """A ValidationCache with the context key of this validation (processor and settings, validation_cache.
    context_key): rows already checked under the same context, with the same content and media bytes, are not
    checked again."""

    store: ValidationCache
    context: str


@dataclass
class _Checks:
    """Everything the per-row checks need; forked worker processes inherit it (nothing is pickled)."""

    data_cfg: DataConfig
    check_media: MediaChecker
    model_limits: Any
    token_length: TokenLength | None
    reject_tokens: list[str]
    escape_tokens: list[str]
    max_length: int | None
    samples: dict[int, Sample] = field(default_factory=dict)

    def run(self, sample: Sample) -> dict[str, Any]:
        """The outcome of one parsed row, as JSON (what the result cache stores): its problems in check order,
        whether its media passed, and the overrides and token counts of a row shrunk to fit."""
        escaped = bool(self.escape_tokens) and escape_sample(sample, self.escape_tokens)
        media = [self.check_media("image", p) for p in sample.images]
        media += [self.check_media("video", p) for p in sample.videos]
        media_problems = [p for p in media if p is not None]
        problems = media_problems + limit_problems(sample, self.model_limits)
        token_problem = special_token_problem(sample, self.reject_tokens)
        if token_problem:
            problems.append(token_problem)
        shrunk = None
        counts: list[tuple[int, int]] = []  # the row's token counts; the last one is its final (fitted) count

        def token_length(s: Sample) -> tuple[int, int]:
            counts.append(self.token_length(s))
            return counts[-1]

        if not problems and self.token_length is not None:
            if self.data_cfg.on_overlength == "shrink" and self.max_length is not None:
                fit_problems, record = shrink_to_fit(sample, token_length, self.max_length, self.data_cfg)
                problems += fit_problems
                if record is not None and not fit_problems:
                    shrunk = {k: v for k, v in record.items() if k not in ("index", "id")}
            else:
                problems += length_problems(sample, token_length, self.max_length)
        return {
            "problems": [list(p) for p in problems],
            "media_ok": not media_problems,
            "shrunk": shrunk,
            "escaped": escaped,
            "tokens": list(counts[-1]) if counts else None,  # for the expectations on token length
        }


log = logging.getLogger(__name__)
_WORKER: _Checks | None = None  # set in the parent just before forking the pool
MIN_CHUNK, MAX_CHUNK = 64, 1024  # rows per task sent to a worker
STALL_S = 120  # seconds without any worker result before the remaining rows are checked in this process
ROW_MARK = "\x00row\x00"  # stands for "row <index>: " at the start of a cached reason


def _worker_init() -> None:
    reset_signals()
    torch.set_num_threads(1)  # one intra-op thread per worker process: the workers are the parallelism


def _run_chunk(indices: list[int]) -> list[tuple[int, dict[str, Any]]]:
    assert _WORKER is not None
    return [(i, _WORKER.run(_WORKER.samples[i])) for i in indices]


def _run_all(checks: _Checks, todo: list[int], workers: int) -> dict[int, dict[str, Any]]:
    """Each row's outcome; in `workers` forked processes when there are enough rows to be worth it."""
    global _WORKER
    if workers < 2 or len(todo) < 2 * MIN_CHUNK:
        return {i: checks.run(checks.samples[i]) for i in todo}
    size = max(MIN_CHUNK, min(MAX_CHUNK, len(todo) // (workers * 8)))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    _WORKER = checks
    done: dict[int, dict[str, Any]] = {}
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init)
    ended = False
    try:
        parts = pool.imap(_run_chunk, chunks)
        for _ in chunks:
            done |= dict(parts.next(timeout=STALL_S))
        # Every chunk answered: the workers get their end-of-work sentinel and exit on their own. Not `terminate`,
        # which signals them: a worker still starting (its task taken by the other one) may not have reset the
        # SIGTERM handler copied from the parent yet, ignore the signal and wait forever on the queue terminate holds.
        pool.close()
        pool.join()
        ended = True
    except multiprocessing.TimeoutError:
        # A forked worker can deadlock on a lock another thread of this process held at fork time (a long-lived
        # process with many threads, e.g. a test session or a notebook): the rows not done yet are checked here.
        log.warning("validation workers gave no result for %d s: checking the other %d rows in this process",
                    STALL_S, len(todo) - len(done))  # fmt: skip
    finally:
        if not ended:
            pool.terminate()  # stalled or failed: the workers started long ago, SIGTERM (reset to default) ends them
        _WORKER = None
    return done | {i: checks.run(checks.samples[i]) for i in todo if i not in done}


def _to_cache(result: dict[str, Any], index: int) -> dict[str, Any]:
    """A result as stored: a reason that starts with its row's index (the collator's errors) is stored without it,
    so the entry holds for the same row at another index."""
    prefix = f"row {index}: "
    problems = [[k, ROW_MARK + r[len(prefix) :] if r.startswith(prefix) else r] for k, r in result["problems"]]
    return {**result, "problems": problems}


def _from_cache(result: dict[str, Any], index: int) -> dict[str, Any]:
    prefix = f"row {index}: "
    problems = [[k, prefix + r[len(ROW_MARK) :] if r.startswith(ROW_MARK) else r] for k, r in result["problems"]]
    return {**result, "problems": problems}


def validate_samples(
    path: str | Path,
    data_cfg: DataConfig,
    *,
    base: Path | None = None,
    model_limits: Any = None,
    token_length: TokenLength | None = None,
    special_tokens: Sequence[str] = (),
    max_length: int | None = None,
    workers: int = 0,
    cache: RowCache | None = None,
    stats: dict[str, Any] | None = None,
) -> tuple[list[Sample], ValidationReport]:
    """Check every row of a dataset file; returns the parsed samples (valid or not) and the report.

    A file that cannot be read at all raises data.DatasetFileError. `model_limits` is a models.Family or a dict with
    `name`, `images`, `multi_image`, `video`. `special_tokens` are rejected in any text, or escaped (see
    escape_special_tokens) when `data_cfg.literal_special_tokens == "escape"`.
    `token_length(sample) -> (num_tokens, num_supervised)` runs only on rows that passed every other check; a ValueError
    from it is recorded as that row's issue. With `data_cfg.on_overlength == "shrink"`, a row above `max_length` gets
    fewer frames / pixels (Sample.max_frames / max_pixels) until it fits, and is listed in `report.shrunk`.
    With `workers` >= 2 the per-row checks run in that many forked processes; with a `cache`, rows whose content,
    media bytes and context were checked before take their stored outcome (the report is the same). `stats`, when
    given, receives the counts: rows, parsed, cached (taken from the cache), checked (computed here), and gx_s (the
    seconds of the Great Expectations suite).
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
    checks = _Checks(
        data_cfg,
        MediaChecker(roots, data_cfg.max_image_pixels),
        model_limits,
        token_length,
        [t for t in special_tokens if t] if data_cfg.literal_special_tokens == "reject" else [],
        [t for t in special_tokens if t] if data_cfg.literal_special_tokens == "escape" else [],
        max_length,
    )

    parse_issues: dict[int, Issue] = {}
    for index, row in enumerate(rows):
        try:
            checks.samples[index] = parse_row(
                row,
                index,
                data_cfg.user_key,
                data_cfg.assistant_key,
                data_cfg.system_key,
                image_root,
                video_root,
            )
        except RowError as e:
            parse_issues[index] = Issue(index, e.row_id, e.reason, e.kind)

    results: dict[int, dict[str, Any]] = {}
    keys: dict[int, str] = {}
    contents: dict[int, str] = {}
    if cache is not None:
        digests = cache.store.digests(p for s in checks.samples.values() for p in s.images + s.videos)
        for i, s in checks.samples.items():
            media = [(p, digests[p]) for p in s.images + s.videos]
            contents[i] = _content(rows[i])
            keys[i] = row_key(contents[i] + "\0" + json.dumps(rows[i].get("id")), media, cache.context)
        stored = cache.store.get(list(keys.values()))
        results = {i: _from_cache(stored[k], i) for i, k in keys.items() if k in stored}
    todo = [i for i in checks.samples if i not in results]
    with pillow_pixel_limit(data_cfg.max_image_pixels):
        computed = _run_all(checks, todo, workers)
    if cache is not None and computed:
        cache.store.put({keys[i]: _to_cache(r, i) for i, r in computed.items()})
    results |= computed
    if stats is not None:
        stats.update(rows=len(rows), parsed=len(checks.samples), cached=len(results) - len(computed),
                     checked=len(computed))  # fmt: skip

    samples: list[Sample] = []
    issues: list[Issue] = []
    table: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    duplicates: list[tuple[int, int]] = []
    shrunk: list[dict[str, Any]] = []
    escaped: list[int] = []
    for index, row in enumerate(rows):
        sample = checks.samples.get(index)
        if sample is None:
            issues.append(parse_issues[index])
            if isinstance(row, dict):
                table.append(summarise_row(index, row, data_cfg, parse_ok=False, media_ok=None))
            continue
        samples.append(sample)
        result = results[index]
        if checks.escape_tokens:  # (idempotent: a sample escaped by an in-process check stays as it is)
            escape_sample(sample, checks.escape_tokens)
        if result["escaped"]:
            escaped.append(index)
        if result["shrunk"] is not None:
            sample.max_frames, sample.max_pixels = result["shrunk"]["max_frames"], result["shrunk"]["max_pixels"]
            shrunk.append({"index": index, "id": sample.id, **result["shrunk"]})
        issues += [Issue(index, sample.id, reason, kind) for kind, reason in result["problems"]]
        table.append(summarise_row(index, row, data_cfg, parse_ok=True, media_ok=result["media_ok"]))
        key = _fingerprint(row, contents.pop(index, None))
        if key in first_seen:
            duplicates.append((index, first_seen[key]))
        else:
            first_seen[key] = index

    # the dataset-level rules: rows a failed expectation names become issues (under "drop", dropped)
    gx_start = time.perf_counter()
    expected = run_expectations(
        table,
        total=len(rows),
        invalid={i.index for i in issues},
        data_cfg=data_cfg,
        model_limits=model_limits,
        max_length=max_length,
        token_counts={i: tuple(r["tokens"]) for i, r in results.items() if r.get("tokens") is not None},
    )
    if stats is not None:
        stats["gx_s"] = time.perf_counter() - gx_start
    issues += expected.row_issues
    bad = {i.index for i in issues}
    valid = [s for s in samples if s.index not in bad]
    modality_counts = Counter(s.modality for s in valid)
    report = ValidationReport(
        source=str(path),
        total=len(rows),
        valid_indices=[s.index for s in valid],
        issues=issues,
        duplicates=duplicates,
        modality_counts={m: modality_counts[m] for m in MODALITIES},
        text_only_share=modality_counts["text"] / len(valid) if valid else 0.0,
        issue_counts=dict(Counter(i.kind for i in issues)),
        gx_success=expected.success,
        gx_results=expected.results,
        expectation_failures=expected.failures,
        data_docs=expected.data_docs,
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
    quarantine: one entry per dropped row, with its reasons, kinds (a check's, or a failed expectation's type) and raw
    row. A failed dataset-level expectation (report.expectation_failures) raises DatasetInvalid under either policy."""
    if on_invalid not in ("fail", "drop"):
        raise ValueError(f"on_invalid must be 'fail' or 'drop', got {on_invalid!r}")
    if (report.issues and on_invalid == "fail") or report.expectation_failures:
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
