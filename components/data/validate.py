"""Dataset validation: every row is checked before training, and every bad row is named.

Per-row checks (structure, media files, model limits, literal special tokens, token length) produce `Issue`s. Then
the Great Expectations suites (components/data/expectations.py) hold the dataset-level rules over a per-row summary
table: a failed expectation names rows (duplicate ids, ...) that become issues of their own, or names none (the share
of invalid rows, each modality's share) and fails the run under either policy.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import orjson
import torch

from components.artifacts import LineRows, Sample, sample_line
from components.config import DataConfig
from components.data.expectations import (
    MODALITIES,
    SummaryTable,
    run_expectations,
    stored_data_docs,
    stored_validations,
    summarise_row,
)
from components.data.forking import reset_signals
from components.data.media import file_digest
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
from components.data.rows import DataFile, RowError, media_root, parse_row, read_data_file
from components.data.validation_cache import MISSING, ValidationCache, media_versions
from components.storage import StorageError, is_uri


def _fingerprint(row: dict) -> str:
    """sha256 of the row's JSON without its id (keys sorted): what makes two rows duplicates."""
    content = json.dumps({k: v for k, v in row.items() if k != "id"}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()


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
RECORD_BATCH = 5000  # rows whose new records are stored at a time (memory stays flat in the rows)
ROW_MARK = "\x00row\x00"  # stands for "row <index>: " at the start of a cached reason


def _worker_init() -> None:
    reset_signals()
    torch.set_num_threads(1)  # one intra-op thread per worker process: the workers are the parallelism


_SENT: dict[tuple[str, str], dict] = {}  # in a worker: the facts of each media file it has sent back

# The checks that keep what they learn of each media file (`media_facts` / `learn_media`): the decode check
# (MediaChecker) and the token counter's media sizes (prepare.TokenCounter).
MEDIA_FACT_OWNERS = ("check_media", "token_length")


def _media_files(samples) -> dict[tuple[str, str], None]:
    """The (kind, path) of every media file the samples name, each once, in order."""
    files: dict[tuple[str, str], None] = {}
    for s in samples:
        files.update(dict.fromkeys(("image", p) for p in s.images))
        files.update(dict.fromkeys(("video", p) for p in s.videos))
    return files


def _facts_of(checks: _Checks, files) -> dict[tuple[str, str], dict[str, Any]]:
    """What the checks know of each file, as JSON: {(kind, path): {owner: facts}} (files they know nothing of left
    out)."""
    out = {}
    for f in files:
        facts = {}
        for name in MEDIA_FACT_OWNERS:
            owner = getattr(checks, name)
            got = owner.media_facts(*f) if hasattr(owner, "media_facts") else None
            if got is not None:
                facts[name] = got
        if facts:
            out[f] = facts
    return out


def _run_chunk(indices: list[int]) -> tuple[list[tuple[int, dict[str, Any]]], dict]:
    """The outcomes of these rows, and the facts of their media files that this worker has not sent back yet."""
    assert _WORKER is not None
    results = [(i, _WORKER.run(_WORKER.samples[i])) for i in indices]
    facts = _facts_of(_WORKER, _media_files(_WORKER.samples[i] for i in indices))
    new = {f: v for f, v in facts.items() if _SENT.get(f) != v}
    _SENT.update(new)
    return results, new


def _run_all(checks: _Checks, todo: list[int], workers: int) -> tuple[dict[int, dict[str, Any]], dict]:
    """Each row's outcome, and the facts of its media files learned on the way (_facts_of); in `workers` forked
    processes when there are enough rows to be worth it."""
    global _WORKER
    if workers < 2 or len(todo) < 2 * MIN_CHUNK:
        results = {i: checks.run(checks.samples[i]) for i in todo}
        return results, _facts_of(checks, _media_files(checks.samples[i] for i in todo))
    size = max(MIN_CHUNK, min(MAX_CHUNK, len(todo) // (workers * 8)))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    _WORKER = checks
    done: dict[int, dict[str, Any]] = {}
    learned: dict[tuple[str, str], dict[str, Any]] = {}
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init)
    ended = False
    try:
        parts = pool.imap(_run_chunk, chunks)
        for _ in chunks:
            results, facts = parts.next(timeout=STALL_S)
            done |= dict(results)
            learned |= facts
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
    rest = [i for i in todo if i not in done]
    done |= {i: checks.run(checks.samples[i]) for i in rest}
    return done, learned | _facts_of(checks, _media_files(checks.samples[i] for i in rest))


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


def _gc_paused(fn):
    """Run `fn` with the cyclic garbage collector off: validation builds a few objects per row and keeps them (a
    million at 100,000 rows), and every collection pass walks all of them again (a third of a warm revalidation's
    time at 100,000 rows); what it leaves cyclic is collected after."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return run


@_gc_paused
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
) -> tuple[Sequence[Sample], ValidationReport]:
    """Check every row of a dataset file; returns the parsed samples (valid or not; a LineRows when the file was
    answered whole from the cache) and the report.

    A file that cannot be read at all raises data.DatasetFileError. `model_limits` is a models.Family or a dict with
    `name`, `images`, `multi_image`, `video`. `special_tokens` are rejected in any text, or escaped (see
    escape_special_tokens) when `data_cfg.literal_special_tokens == "escape"`.
    `token_length(sample) -> (num_tokens, num_supervised)` runs only on rows that passed every other check; a ValueError
    from it is recorded as that row's issue. With `data_cfg.on_overlength == "shrink"`, a row above `max_length` gets
    fewer frames / pixels (Sample.max_frames / max_pixels) until it fits, and is listed in `report.shrunk`.
    With `workers` >= 2 the per-row checks run in that many forked processes. With a `cache` (the report is the same
    either way): a file whose bytes, media versions and context were validated before is answered whole from its
    stored outcome, no row parsed; otherwise the first rows it shares with a JSONL file validated before (rows
    appended since) take that file's outcome whole, each other row whose text, media bytes and context were validated
    before takes its stored record (sample, outcome, GX summary line), and only the rest are parsed and checked, with
    what the cache knows of their media files (decode result, token sizes). `stats`, when given, receives the counts:
    rows, parsed (rows that are samples), cached (rows taken from the cache), checked (rows checked here), whole_file
    (answered whole), shared_start (first rows taken from another file's outcome) and gx_s (the seconds of the Great
    Expectations suites).
    """
    image_root = media_root(data_cfg.image_folder, path, base)
    video_root = media_root(data_cfg.video_folder, path, base)
    slot = file_key = None
    if cache is not None:  # the whole file unchanged (bytes, context, media): its stored outcome, no row parsed
        slot, file_key = _file_keys(path, image_root, video_root, cache.context)
        found = cache.store.get_file(slot, file_key) if file_key else None
        if found is not None and media_versions(found[0]) == found[0]:
            samples, report = _from_file_entry(found[1])
            if stats is not None:
                stats.update(rows=report.total, parsed=len(samples), cached=report.total, checked=0, gx_s=0.0,
                             whole_file=True)  # fmt: skip
            return samples, report
    data = read_data_file(path)

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

    # the rows a file validated before shares with this one, from its start (rows appended since): its outcome
    done, group, digests = _Done(), None, {}
    if cache is not None:
        group = _group_key(image_root, video_root, cache.context)
        candidates = cache.store.file_candidates(group, len(data))
        # one pass over the rows' texts: the candidates' row counts, and this file's own (stored with its entry)
        digests = _rows_digests(data, {n for _, n, _ in candidates} | {len(data)})
        done = _shared_start(cache.store, candidates, digests)
    start = done.rows
    # other rows validated before (the same text, media bytes and context): their stored record, not parsed, not checked
    keys: dict[int, str] = {}
    records: dict[int, dict[str, Any]] = {}
    if cache is not None:
        keys = _row_keys(data, cache.context, image_root, video_root, start)
        records = _stored_records(cache.store, keys)

    parse_issues: dict[int, Issue] = {}
    for index in range(start, len(data)):
        if index in records:
            continue
        try:
            checks.samples[index] = parse_row(
                data.row(index),  # (a JSONL line that is no JSON raises DatasetFileError naming its line)
                index,
                data_cfg.user_key,
                data_cfg.assistant_key,
                data_cfg.system_key,
                image_root,
                video_root,
            )
        except RowError as e:
            parse_issues[index] = Issue(index, e.row_id, e.reason, e.kind)
    # media files seen before (same bytes, same context): their decode check and token sizes are not redone
    fact_keys, stored_facts = _seed_media_facts(cache, checks) if cache is not None else ({}, {})
    with pillow_pixel_limit(data_cfg.max_image_pixels):
        results, learned = _run_all(checks, list(checks.samples), workers)
    if cache is not None:
        _store_media_facts(cache.store, fact_keys, stored_facts, learned)
    checked = len(results)

    lines, indices, row_media = done.lines, done.indices, done.row_media  # each sample's line, index, media
    modalities, fingerprints, token_list = done.modalities, done.fingerprints, done.tokens  # each sample's
    issues, table, shrunk, escaped = done.issues, done.table, done.shrunk, done.escaped
    first_seen: dict[str, int] = {}
    duplicates: list[tuple[int, int]] = []
    for index, fingerprint in zip(indices, fingerprints, strict=True):
        if fingerprint in first_seen:
            duplicates.append((index, first_seen[fingerprint]))
        else:
            first_seen[fingerprint] = index
    new_records: dict[int, dict[str, Any]] = {}
    cached = start + len(records)
    for index in range(start, len(data)):
        record = records.pop(index, None)  # (each row's record, sample and parsed row let go once it is done)
        if record is not None and "parse" in record:
            issues.append(Issue(index, *record["parse"]))
            if record["summary"] is not None:
                table.append({**record["summary"], "index": index})
            continue
        if record is not None:
            head, tail = record["line"]
            lines.append(b'%s"index":%d,%s' % (head, index, tail))
            row_media.append(list(record["media"]))
            row_id, modality = record["id"], record["modality"]
            result = record["result"]
            if result["problems"]:
                result = _from_cache(result, index)
            summary = {**record["summary"], "index": index}  # (a copy: rows with the same text share a record)
            fingerprint = record["fingerprint"]
        else:
            sample = checks.samples.get(index)
            if sample is None:
                issue = parse_issues[index]
                issues.append(issue)
                row = data.row(index)
                summary = summarise_row(index, row, data_cfg, False, None) if isinstance(row, dict) else None
                if summary is not None:
                    table.append(summary)
                new_records[index] = {"parse": [issue.row_id, issue.reason, issue.kind], "summary": _indexless(summary)}
                continue
            del checks.samples[index]
            result = results.pop(index)
            if checks.escape_tokens:  # (idempotent: a sample escaped by an in-process check stays as it is)
                escape_sample(sample, checks.escape_tokens)
            if result["shrunk"] is not None:
                sample.max_frames, sample.max_pixels = result["shrunk"]["max_frames"], result["shrunk"]["max_pixels"]
            line = sample_line(sample)
            lines.append(line)
            row_media.append(sample.images + sample.videos)
            row_id, modality = sample.id, sample.modality
            summary = summarise_row(index, data.row(index), data_cfg, parse_ok=True, media_ok=result["media_ok"])
            fingerprint = _fingerprint(data.row(index))
            data.forget(index)
            head, sep, tail = line.partition(b'"index":%d,' % index)
            assert sep, "sample_line has its index after id and images"
            new_records[index] = {
                "line": (head, tail),
                "id": row_id,
                "modality": modality,
                "result": _to_cache(result, index),
                "summary": _indexless(summary),
                "fingerprint": fingerprint,
                "media": sample.images + sample.videos,
            }
        indices.append(index)
        modalities.append(modality)
        fingerprints.append(fingerprint)
        if result["escaped"]:
            escaped.append(index)
        if result["shrunk"] is not None:
            shrunk.append({"index": index, "id": row_id, **result["shrunk"]})
        token_list.append(result.get("tokens"))
        issues += [Issue(index, row_id, reason, kind) for kind, reason in result["problems"]]
        table.append(summary)
        if fingerprint in first_seen:
            duplicates.append((index, first_seen[fingerprint]))
        else:
            first_seen[fingerprint] = index
        if cache is not None and len(new_records) >= RECORD_BATCH:
            _store_records(cache.store, keys, new_records)
            new_records = {}
    if cache is not None and new_records:
        _store_records(cache.store, keys, new_records)
    samples = LineRows(lines, indices, row_media)
    if stats is not None:
        stats.update(rows=len(data), parsed=len(samples), cached=cached, checked=checked, whole_file=False,
                     shared_start=start)  # fmt: skip
    tokens = {i: tuple(t) for i, t in zip(indices, token_list, strict=True) if t is not None}
    check_issues = list(issues)

    # the dataset-level rules: rows a failed expectation names become issues (under "drop", dropped)
    gx_start = time.perf_counter()
    expected = run_expectations(
        table,
        total=len(data),
        invalid={i.index for i in issues},
        data_cfg=data_cfg,
        model_limits=model_limits,
        max_length=max_length,
        token_counts=tokens,
    )
    if stats is not None:
        stats["gx_s"] = time.perf_counter() - gx_start
    issues += expected.row_issues
    bad = {i.index for i in issues}
    valid = [i for i in indices if i not in bad]
    modality_counts = Counter(m for i, m in zip(indices, modalities, strict=True) if i not in bad)
    report = ValidationReport(
        source=str(path),
        total=len(data),
        valid_indices=valid,
        issues=issues,
        duplicates=duplicates,
        modality_counts={m: modality_counts[m] for m in MODALITIES},
        text_only_share=modality_counts["text"] / len(valid) if valid else 0.0,
        issue_counts=dict(Counter(i.kind for i in issues)),
        gx_success=expected.success,
        gx_results=expected.results,
        expectation_failures=expected.failures,
        data_docs=expected.data_docs,
        bad_rows={i: data.row(i) for i in sorted(bad)},
        shrunk=shrunk,
        escaped=escaped,
        image_folder=str(image_root),
        video_folder=str(video_root),
    )
    if file_key is not None:
        media = samples.media
        entry = _file_entry(samples, media, report, stored_validations(expected.validations))
        rows = {
            "table": table.columns,
            "fingerprints": fingerprints,
            "modalities": modalities,
            "tokens": token_list,
            "check_issues": [[i.index, i.row_id, i.reason, i.kind] for i in check_issues],
        }
        cache.store.put_file(
            slot, file_key, media_versions(media), entry, group, len(data), digests.get(len(data)), _dumps(rows)
        )
    return samples, report


@dataclass
class _Done:
    """What validation holds before it starts on a file's rows: the outcome of the first `rows` rows, which a file
    validated before shares with this one (_shared_start), each sample's line, index, media, modality, duplicate
    fingerprint and token counts, the per-row checks' issues, the GX summary table, the rows shrunk or escaped."""

    rows: int = 0
    lines: list[bytes] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    row_media: list[list[str]] = field(default_factory=list)
    modalities: list[str] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    tokens: list[list[int] | None] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    table: SummaryTable = field(default_factory=SummaryTable)
    shrunk: list[dict[str, Any]] = field(default_factory=list)
    escaped: list[int] = field(default_factory=list)


def _group_key(image_root: Any, video_root: Any, context: str) -> str:
    """Files whose rows, at the same place in the file, have the same outcome: same media folders, same context."""
    return hashlib.sha256(json.dumps([str(image_root), str(video_root), context]).encode()).hexdigest()


def _rows_digests(data: DataFile, counts: set[int]) -> dict[int, str]:
    """sha256 of the texts of the first n rows, for each n in `counts` (one pass); none for a JSON list, whose rows'
    texts are not the file's own."""
    if not data.is_lines or not counts:
        return {}
    h, out, last = hashlib.sha256(), {}, max(counts)
    if 0 in counts:
        out[0] = h.hexdigest()
    for i in range(min(last, len(data))):
        h.update(data.text(i).encode())
        h.update(b"\n")
        if i + 1 in counts:
            out[i + 1] = h.hexdigest()
    return out


def _shared_start(store: ValidationCache, candidates: list[tuple[str, int, str]], digests: dict[int, str]) -> _Done:
    """The outcome of the longest run of first rows this file shares with a JSONL file validated before (the same
    file before rows were appended, or another one it extends) under the same media folders and context (`candidates`:
    ValidationCache.file_candidates of its group; `digests`: _rows_digests of this file at their row counts), whose
    media files have not changed since; nothing when there is none."""
    for other, n, digest in candidates:
        if n == 0 or digests.get(n) != digest:
            continue
        found = store.get_file_rows(other)
        if found is None or media_versions(found[0]) != found[0]:
            continue
        try:
            samples, report = _from_file_entry(found[1])
            rows = orjson.loads(found[2])
        except (TypeError, ValueError, KeyError):
            continue
        if report.total != n:
            continue
        return _Done(
            n, list(samples.lines()), samples.indices, samples.row_media, rows["modalities"], rows["fingerprints"],
            rows["tokens"], [Issue(*i) for i in rows["check_issues"]], SummaryTable(rows["table"]),
            list(report.shrunk), list(report.escaped),
        )  # fmt: skip
    return _Done()


def _dumps(value: Any) -> bytes:
    # json writes (NaN as NaN), orjson reads: a value it cannot read back makes the entry a miss
    return json.dumps(value, ensure_ascii=False).encode()


def _row_keys(data: DataFile, context: str, image_root: Any, video_root: Any, start: int = 0) -> dict[int, str]:
    """Each row's record key: its own text (a JSONL line as written, else its JSON with sorted keys), the folders its
    media paths resolve against and the context. The media bytes are checked against the record (_stored_records)."""
    prefix = hashlib.sha256(f"{context}\0{image_root}\0{video_root}\0".encode())
    keys = {}
    for i in range(start, len(data)):
        text = data.text(i)
        h = prefix.copy()
        h.update(text.encode())
        keys[i] = h.hexdigest()
    return keys


def _stored_records(store: ValidationCache, keys: dict[int, str]) -> dict[int, dict[str, Any]]:
    """The stored records of these rows whose media files still have the digests they were checked with."""
    stored = store.get_records(list(dict.fromkeys(keys.values())))
    digests = store.digests(p for r in stored.values() for p in r.get("media", ()))
    fresh = {k for k, r in stored.items() if all(digests[p] == d for p, d in r.get("media", {}).items())}
    return {i: stored[k] for i, k in keys.items() if k in fresh}


def _store_records(store: ValidationCache, keys: dict[int, str], records: dict[int, dict[str, Any]]) -> None:
    """Store the records of rows checked now, each with the digests of the media files it names (in order)."""
    digests = store.digests(p for r in records.values() for p in r.get("media", ()))
    for r in records.values():
        if "media" in r:
            r["media"] = {p: digests[p] for p in r["media"]}
    store.put_records({keys[i]: r for i, r in records.items()})


def _seed_media_facts(cache: RowCache, checks: _Checks) -> tuple[dict[tuple[str, str], str], dict[str, Any]]:
    """Give the checks what the cache holds of the media files the rows to check name, under this context and with
    the bytes each file has now; returns each readable file's key and the facts found."""
    files = _media_files(checks.samples.values())
    if not files:
        return {}, {}
    digests = cache.store.digests(p for _, p in files)
    keys = {
        (kind, path): hashlib.sha256(f"{cache.context}\0{kind}\0{path}\0{digests[path]}".encode()).hexdigest()
        for kind, path in files
        if digests[path] != MISSING
    }
    stored = cache.store.get_media(list(keys.values()))
    for (kind, path), key in keys.items():
        for name, facts in stored.get(key, {}).items():
            owner = getattr(checks, name, None)
            if hasattr(owner, "learn_media"):
                owner.learn_media(kind, path, facts)
    return keys, stored


def _store_media_facts(
    store: ValidationCache, keys: dict[tuple[str, str], str], stored: dict[str, Any], learned: dict[tuple, dict]
) -> None:
    """Store the facts learned of each file where they add to what was stored."""
    new = {keys[f]: facts for f, facts in learned.items() if f in keys and stored.get(keys[f]) != facts}
    if new:
        store.put_media(new)


def _indexless(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if summary is None else {k: v for k, v in summary.items() if k != "index"}


_REPORT_FIELDS = [f.name for f in fields(ValidationReport) if f.name not in ("data_docs", "issues", "bad_rows")]


def _file_keys(path: str | Path, image_root: Any, video_root: Any, context: str) -> tuple[str, str | None]:
    """(slot, key) of a data file's whole-file cache entry: the slot is the file's place (one entry each, replaced
    when the file changes), the key its bytes and everything else its outcome depends on. No key for a file that
    cannot be read (the normal path reports it)."""
    slot = hashlib.sha256(json.dumps([str(path), str(image_root), str(video_root), context]).encode()).hexdigest()
    try:
        return slot, hashlib.sha256(f"{slot}\0{file_digest(path)}".encode()).hexdigest()
    except (OSError, StorageError):
        return slot, None


def _file_entry(
    samples: LineRows, media: list[str], report: ValidationReport, validations: list[dict[str, Any]]
) -> bytes:
    """A file's outcome as stored: its report with GX's validation results (JSON: the report's Data Docs pages are
    rendered from them when asked for) and each sample's index and media (`media`: samples.media, each path once),
    then a NUL byte, then the samples' lines."""
    number = {p: k for k, p in enumerate(media)}
    head = {
        "report": {f: getattr(report, f) for f in _REPORT_FIELDS},
        "issues": [[i.index, i.row_id, i.reason, i.kind] for i in report.issues],
        "bad_rows": list(report.bad_rows.items()),
        "validations": validations,
        "indices": samples.indices,
        "media": media,
        "row_media": [[number[p] for p in paths] for paths in samples.row_media],
    }
    return json.dumps(head, ensure_ascii=False).encode() + b"\0" + b"\n".join(samples.lines())


def _from_file_entry(data: bytes) -> tuple[LineRows, ValidationReport]:
    """The samples (kept as their lines, each decoded when read) and the report of a stored file entry."""
    head_bytes, _, lines = data.partition(b"\0")  # (JSON escapes a NUL in a string: the first one is the separator)
    head = json.loads(head_bytes)
    report = ValidationReport(
        **head["report"],
        issues=[Issue(*i) for i in head["issues"]],
        bad_rows=dict(head["bad_rows"]),
    )
    report.duplicates = [tuple(d) for d in report.duplicates]
    validations = head["validations"]
    report.data_docs = lambda: stored_data_docs(validations)
    media = head["media"]
    row_media = [[media[k] for k in paths] for paths in head["row_media"]]
    return LineRows(lines.split(b"\n") if lines else [], head["indices"], row_media), report


def apply_policy(
    samples: Sequence[Sample], report: ValidationReport, on_invalid: Literal["fail", "drop"]
) -> tuple[Sequence[Sample], list[dict[str, Any]]]:
    """With "fail", raise DatasetInvalid if any row has an issue. With "drop", keep the valid samples and return the
    quarantine: one entry per dropped row, with its reasons, kinds (a check's, or a failed expectation's type) and raw
    row. A failed dataset-level expectation (report.expectation_failures) raises DatasetInvalid under either policy."""
    if on_invalid not in ("fail", "drop"):
        raise ValueError(f"on_invalid must be 'fail' or 'drop', got {on_invalid!r}")
    if (report.issues and on_invalid == "fail") or report.expectation_failures:
        raise DatasetInvalid(report)
    valid = set(report.valid_indices)
    if len(valid) == len(samples):  # every sample valid: as they are
        kept = samples
    elif isinstance(samples, LineRows):
        kept = samples.keep(valid)
    else:
        kept = [s for s in samples if s.index in valid]
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
    return kept, quarantine
