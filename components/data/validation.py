"""Dataset validation: every row is checked before training, and every bad row is named.

Per-row checks (structure, media files, model limits, literal special tokens, token length) produce `Issue`s, and
those alone decide which rows are valid. A Great Expectations suite runs over a per-row summary table as a second,
declarative view of the same data; its results are reported, not enforced.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import av
import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from PIL import Image

from components.artifacts import Sample
from components.config import DataConfig
from components.data.collator import AllLabelsMasked
from components.data.media import probe_video
from components.data.rows import PLACEHOLDER, RowError, parse_row, read_rows

MODALITIES = ("text", "image", "multi_image", "video")
TokenLength = Callable[[Sample], tuple[int, int]]
Problem = tuple[str, str]  # (kind, reason)
SUMMARY_COLUMNS = (
    "index", "id", "n_turns", "n_images", "n_videos", "n_image_placeholders", "n_video_placeholders", "text_chars",
    "answer_chars", "has_system", "modality", "parse_ok", "media_ok",
)  # fmt: skip


@dataclass
class Issue:
    index: int
    row_id: str | None
    reason: str
    kind: str


@dataclass
class ValidationReport:
    source: str
    total: int
    valid_indices: list[int]
    issues: list[Issue]
    duplicates: list[tuple[int, int]]  # (index, index of its first occurrence)
    modality_counts: dict[str, int]  # over valid rows
    text_only_share: float
    issue_counts: dict[str, int]  # issues per kind
    gx_success: bool
    gx_results: dict[str, Any]
    bad_rows: dict[int, Any] = field(default_factory=dict, repr=False)  # raw rows of invalid indices
    # rows over max_length that were kept with fewer frames / pixels (data.on_overlength: shrink)
    shrunk: list[dict[str, Any]] = field(default_factory=list)
    escaped: list[int] = field(default_factory=list)  # rows whose literal special tokens were escaped

    @property
    def ok(self) -> bool:
        return not self.issues

    def issues_by_row(self) -> dict[int, list[Issue]]:
        rows: dict[int, list[Issue]] = {}
        for issue in self.issues:
            rows.setdefault(issue.index, []).append(issue)
        return dict(sorted(rows.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "total": self.total,
            "num_valid": len(self.valid_indices),
            "num_invalid": len(self.issues_by_row()),
            "valid_indices": list(self.valid_indices),
            "issues": [asdict(i) for i in self.issues],
            "issue_counts": dict(self.issue_counts),
            "duplicates": [list(d) for d in self.duplicates],
            "modality_counts": dict(self.modality_counts),
            "text_only_share": self.text_only_share,
            "num_shrunk": len(self.shrunk),
            "num_escaped": len(self.escaped),
            "shrunk": [dict(r) for r in self.shrunk],
            "gx_success": self.gx_success,
            "gx_results": self.gx_results,
        }

    def error_message(self) -> str:
        rows = self.issues_by_row()
        lines = [f"{self.source}: {len(rows)} of {self.total} rows are invalid:"]
        for index, issues in rows.items():
            who = f"row {index}" + (f" (id={issues[0].row_id})" if issues[0].row_id is not None else "")
            lines.append(f"  {who}: " + "; ".join(f"[{i.kind}] {i.reason}" for i in issues))
        return "\n".join(lines)

    def to_html(self, examples_per_kind: int = 5) -> str:
        e = html.escape
        rows = self.issues_by_row()
        by_kind: dict[str, list[Issue]] = {}
        for issue in self.issues:
            by_kind.setdefault(issue.kind, []).append(issue)

        def table(header: Sequence[str], body: list[Sequence[Any]]) -> str:
            head = "".join(f"<th>{e(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in body)
            return f"<table><tr>{head}</tr>{trs}</table>"

        totals = [self.total, len(self.valid_indices), len(rows), len(self.duplicates), len(self.shrunk)]
        totals += [f"{self.text_only_share:.1%}", "passed" if self.gx_success else "failed"]
        gx_rows = [
            [r["expectation"], json.dumps(r["kwargs"]), r["success"], r["unexpected_count"],
             ", ".join(map(str, r["unexpected_rows"][:examples_per_kind])) or r["error"] or ""]
            for r in self.gx_results.get("expectations", [])
        ]  # fmt: skip
        parts = [
            f"<h1>Dataset validation: {e(self.source)}</h1>",
            table(["rows", "valid", "invalid", "duplicates", "shrunk", "text-only share", "GX suite"], [totals]),
            "<h2>Issues per reason</h2>",
        ]
        if not self.issues:
            parts.append("<p>No issues.</p>")
        parts.append(table(["kind", "count"], sorted(self.issue_counts.items(), key=lambda kv: -kv[1])))
        for kind, issues in sorted(by_kind.items()):
            shown = issues[:examples_per_kind]
            parts.append(f"<h3>{e(kind)} ({len(issues)}; showing {len(shown)})</h3>")
            parts.append(table(["index", "id", "reason"], [[i.index, i.row_id or "", i.reason] for i in shown]))
        parts.append("<h2>Modalities (valid rows)</h2>")
        parts.append(table(["modality", "rows"], list(self.modality_counts.items())))
        if self.shrunk:
            parts.append(f"<h2>Shrunk to fit max_length, kept ({len(self.shrunk)})</h2>")
            keys = ["index", "id", "tokens_before", "tokens_after", "max_frames", "max_pixels"]
            parts.append(table(keys, [[r[k] if r[k] is not None else "" for k in keys] for r in self.shrunk]))
        if self.duplicates:
            parts.append(f"<h2>Duplicates, kept ({len(self.duplicates)})</h2>")
            parts.append(table(["index", "duplicate of"], self.duplicates[:examples_per_kind]))
        parts.append("<h2>Great Expectations</h2>")
        parts.append(table(["expectation", "arguments", "success", "unexpected", "example rows"], gx_rows))
        style = (
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}"
        )
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Dataset validation</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
        )


class DatasetInvalid(ValueError):
    """The dataset has invalid rows and the policy is "fail"; the message names every bad row."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.error_message())


# ---------------------------------------------------------------------------------------------------- media checks


@contextmanager
def _pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    # Image.open checks the header's size against MAX_IMAGE_PIXELS before decoding anything: a warning above it (an
    # error in _check_image), an error above twice it. Point that guard at our limit for the duration.
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _check_path(path: Path, roots: list[Path] | None, what: str) -> tuple[Path | None, Problem | None]:
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as e:  # symlink loop
        return None, ("bad_path", f"{what} {path}: cannot resolve ({e})")
    if roots is not None and not any(resolved.is_relative_to(r) for r in roots):
        allowed = ", ".join(map(str, roots))
        return None, ("outside_root", f"{what} {path} resolves to {resolved}, outside the allowed roots ({allowed})")
    if not resolved.exists():
        return None, ("missing_file", f"{what} file not found: {path}")
    if not resolved.is_file():
        return None, ("not_a_file", f"{what} {path} is not a regular file")
    return resolved, None


def _check_image(path: Path, max_pixels: int) -> Problem | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:  # rejects sizes above max_pixels, see _pillow_pixel_limit
                im.verify()
            with Image.open(path) as im:  # verify() leaves the image unusable; reopen to decode the pixels
                im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        return "image_too_large", f"image {path} is above max_image_pixels={max_pixels}: {e}"
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files (OSError, SyntaxError, ...)
        return "corrupt_image", f"image {path} cannot be decoded ({type(e).__name__}: {e})"
    return None


def _check_video(path: Path) -> Problem | None:

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                found = ", ".join(s.type for s in container.streams) or "none"
                return "no_video_stream", f"video {path} has no video stream (streams: {found})"
            stream = container.streams.video[0]
            if next(container.decode(stream), None) is None:
                return "empty_video", f"video {path} has no decodable frame"
            stream_seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0
            if not (stream.frames or container.duration or stream_seconds):
                return "corrupt_video", f"video {path}: neither frame count nor duration is readable"
    except Exception as e:  # noqa: BLE001 - PyAV/FFmpeg errors come in many types
        return "corrupt_video", f"video {path} cannot be decoded ({type(e).__name__}: {e})"
    return None


class _MediaChecker:
    """Checks each file once, however many rows use it."""

    def __init__(self, roots: list[Path] | None, max_image_pixels: int):
        self.roots, self.max_image_pixels = roots, max_image_pixels
        self._cache: dict[tuple[str, str], Problem | None] = {}

    def __call__(self, media: Literal["image", "video"], path: str) -> Problem | None:
        key = (media, path)
        if key not in self._cache:
            resolved, problem = _check_path(Path(path), self.roots, media)
            if resolved is not None:
                problem = _check_image(resolved, self.max_image_pixels) if media == "image" else _check_video(resolved)
            self._cache[key] = problem
        return self._cache[key]


# ------------------------------------------------------------------------------------------------------ row checks


def _limit(limits: Any, key: str, default: Any = True) -> Any:
    if limits is None:
        return default
    return limits.get(key, default) if isinstance(limits, dict) else getattr(limits, key, default)


def _limit_problems(sample: Sample, limits: Any) -> list[Problem]:
    family = _limit(limits, "name", None)
    who = f"model family {family!r}" if family else "the model"
    problems = []
    if sample.videos and not _limit(limits, "video"):
        problems.append(("unsupported_video", f"video input, but {who} does not take videos"))
    if sample.images and not _limit(limits, "images"):
        problems.append(("unsupported_image", f"image input, but {who} does not take images"))
    elif len(sample.images) > 1 and not _limit(limits, "multi_image"):
        problems.append(("too_many_images", f"{len(sample.images)} images, but {who} takes one image per row"))
    if sample.system_prompt and not _limit(limits, "system_prompt"):
        problems.append(("unsupported_system_prompt", f"a system prompt, but {who}'s chat template takes none"))
    return problems


def _special_token_problem(sample: Sample, special_tokens: Sequence[str]) -> Problem | None:
    texts = [("system prompt", sample.system_prompt or "")]
    texts += [(f"turn {t} ({role})", text) for t, (role, text) in enumerate(sample.turns)]
    found = [f"{tok!r} in {where}" for where, text in texts for tok in special_tokens if tok and tok in text]
    if found:
        return "special_token", "literal special token(s): " + ", ".join(found)
    return None


ESCAPE = "\u2060"  # WORD JOINER: invisible, and breaks the exact match the tokenizer needs to emit a special token


def escape_special_tokens(text: str, tokens: Sequence[str]) -> str:
    """`<|im_end|>` -> `<\u2060|im_end|>`: the text still reads the same but tokenizes as plain text, so a literal
    special token inside a turn can never become a turn boundary (or a media placeholder)."""
    for tok in sorted((t for t in tokens if len(t) > 1), key=len, reverse=True):
        text = text.replace(tok, tok[0] + ESCAPE + tok[1:])
    return text


def _escape_sample(sample: Sample, tokens: Sequence[str]) -> bool:
    """Escape every literal special token in the sample's texts in place; whether anything changed."""
    turns = [(role, escape_special_tokens(text, tokens)) for role, text in sample.turns]
    system = escape_special_tokens(sample.system_prompt, tokens) if sample.system_prompt else sample.system_prompt
    changed = turns != sample.turns or system != sample.system_prompt
    sample.turns, sample.system_prompt = turns, system
    return changed


def _encode_problem(error: ValueError) -> Problem:
    # the collator refuses a row with no supervised token; that is the all-masked case, not a processor failure
    return (error.kind if isinstance(error, AllLabelsMasked) else "encode"), str(error)


def _length_problems(sample: Sample, token_length: TokenLength, max_length: int | None) -> list[Problem]:
    try:
        num_tokens, num_supervised = token_length(sample)
    except ValueError as e:
        return [_encode_problem(e)]
    problems = []
    if max_length is not None and num_tokens > max_length:
        problems.append(("too_long", f"{num_tokens} tokens, above max_length={max_length}"))
    if num_supervised == 0:
        problems.append(("all_masked", "no supervised tokens: every label is masked (answer truncated or empty)"))
    return problems


def _media_pixels(sample: Sample) -> int:
    """The largest pixel count among the sample's images and video frames (headers only)."""

    sizes = []
    for path in sample.images:
        with Image.open(path) as im:
            sizes.append(im.width * im.height)
    sizes += [(lambda v: v["width"] * v["height"])(probe_video(path)) for path in sample.videos]
    return max(sizes, default=0)


def _shrink_to_fit(
    sample: Sample, token_length: TokenLength, max_length: int, data_cfg: DataConfig
) -> tuple[list[Problem], dict[str, Any] | None]:
    """Lower the row's max_frames (halving, videos only), then its max_pixels (halving the area), until its token
    count fits max_length. On success the sample keeps the overrides that fit (preprocessing and training then use
    them) and a record for the report is returned; otherwise the row is rejected with its last count."""
    try:
        num_tokens, num_supervised = token_length(sample)
    except ValueError as e:
        return [_encode_problem(e)], None
    if num_tokens <= max_length or not (sample.images or sample.videos):
        return _length_problems(sample, token_length, max_length), None
    before, original = num_tokens, (sample.max_frames, sample.max_pixels)
    frames = sample.max_frames or data_cfg.num_frames
    pixels = min(p for p in (sample.max_pixels, data_cfg.max_pixels, _media_pixels(sample)) if p)

    def attempt(max_frames: int | None, max_pixels: int | None) -> tuple[int, int] | None:
        sample.max_frames, sample.max_pixels = max_frames, max_pixels
        try:
            return token_length(sample)
        except ValueError:
            return None

    tried = []
    while sample.videos and frames > 1 and num_tokens > max_length:  # fewer frames first
        frames = max(1, frames // 2)
        counts = attempt(frames, original[1])
        tried.append(f"max_frames={frames}: {counts[0] if counts else 'error'}")
        if counts:
            num_tokens, num_supervised = counts
    stalls = 0
    while num_tokens > max_length and pixels > 64 and stalls < 2:  # then fewer pixels (until the processor's floor)
        pixels //= 2
        counts = attempt(frames if sample.videos else original[0], pixels)
        tried.append(f"max_pixels={pixels}: {counts[0] if counts else 'error'}")
        if counts:
            stalls = stalls + 1 if counts[0] >= num_tokens else 0
            num_tokens, num_supervised = counts
    if num_tokens > max_length:
        sample.max_frames, sample.max_pixels = original
        reason = f"{before} tokens, above max_length={max_length}; shrinking did not fit ({'; '.join(tried)})"
        return [("too_long", reason)], None
    problems = []
    if num_supervised == 0:
        problems.append(("all_masked", "no supervised tokens: every label is masked (answer truncated or empty)"))
    record = {"index": sample.index, "id": sample.id, "tokens_before": before, "tokens_after": num_tokens,
              "max_frames": sample.max_frames, "max_pixels": sample.max_pixels}  # fmt: skip
    return problems, record


def _fingerprint(row: dict) -> str:
    content = {k: v for k, v in row.items() if k != "id"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _count_files(value: Any) -> int:
    if isinstance(value, str):
        return 1
    return len(value) if isinstance(value, list) else 0


def _summarise(index: int, row: dict, data_cfg: DataConfig, parse_ok: bool, media_ok: bool | None) -> dict[str, Any]:
    """One line of the GX table, computed from the raw row so that unparseable rows are described too."""
    convs = row.get("conversations")
    turns = [t for t in convs if isinstance(t, dict)] if isinstance(convs, list) else []
    values = [(t.get("from"), t["value"]) for t in turns if isinstance(t.get("value"), str)]
    text = "".join(v for _, v in values)
    system = row.get("system_prompt")
    n_images, n_videos = _count_files(row.get("image")), _count_files(row.get("video"))
    placeholders = Counter(m.group(1) for m in PLACEHOLDER.finditer(text))
    modality = "video" if n_videos else "multi_image" if n_images > 1 else "image" if n_images else "text"
    return {
        "index": index,
        "id": None if row.get("id") is None else str(row["id"]),
        "n_turns": sum(t.get("from") in (data_cfg.user_key, data_cfg.assistant_key) for t in turns),
        "n_images": n_images,
        "n_videos": n_videos,
        "n_image_placeholders": placeholders["image"],
        "n_video_placeholders": placeholders["video"],
        "text_chars": len(text) + (len(system) if isinstance(system, str) else 0),
        "answer_chars": sum(len(v) for role, v in values if role == data_cfg.assistant_key),
        "has_system": isinstance(system, str) or any(t.get("from") == data_cfg.system_key for t in turns),
        "modality": modality,
        "parse_ok": parse_ok,
        "media_ok": media_ok,
    }


# --------------------------------------------------------------------------------------------- Great Expectations


def run_expectations(table: list[dict[str, Any]], model_limits: Any = None) -> tuple[bool, dict[str, Any]]:
    """Validate the per-row summary table with an ephemeral Great Expectations context."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    df = pd.DataFrame(table, columns=list(SUMMARY_COLUMNS))
    for col in ("parse_ok", "media_ok", "id"):
        df[col] = df[col].astype(object)  # keep None as "not applicable", not NaN/False

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("dataset").add_dataframe_asset("rows")
    batch_definition = asset.add_batch_definition_whole_dataframe("all_rows")
    suite = context.suites.add(gx.ExpectationSuite(name="lmms_dataset"))
    expectations = [
        gxe.ExpectColumnValuesToBeInSet(column="parse_ok", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="media_ok", value_set=[True]),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="n_image_placeholders", column_B="n_images"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="n_video_placeholders", column_B="n_videos"),
        gxe.ExpectColumnValuesToBeBetween(column="n_turns", min_value=2),
        gxe.ExpectColumnValuesToBeBetween(column="answer_chars", min_value=1),
        gxe.ExpectColumnValuesToBeInSet(column="modality", value_set=list(MODALITIES)),
        gxe.ExpectColumnValuesToBeUnique(column="id", mostly=1.0),  # nulls (rows without id) are not counted
    ]
    if not _limit(model_limits, "video"):
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column="n_videos", max_value=0))
    if not _limit(model_limits, "multi_image"):
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column="n_images", max_value=1))
    for expectation in expectations:
        suite.add_expectation(expectation)
    result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(
        suite, result_format={"result_format": "SUMMARY", "unexpected_index_column_names": ["index"]}
    )
    rows = []
    for r in result.results:
        res = r.result or {}
        kwargs = {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"}
        error = r.exception_info.get("exception_message") if r.exception_info.get("raised_exception") else None
        rows.append(
            {
                "expectation": r.expectation_config.type,
                "kwargs": json.loads(json.dumps(kwargs, default=str)),
                "success": bool(r.success),
                "element_count": int(res.get("element_count") or 0),
                "unexpected_count": int(res.get("unexpected_count") or 0),
                "unexpected_percent": res.get("unexpected_percent"),
                # GX lists at most the first 20 unexpected rows
                "unexpected_rows": [int(u["index"]) for u in res.get("partial_unexpected_index_list") or []],
                "error": error,
            }
        )
    success = bool(result.success)
    return success, {
        "success": success,
        "evaluated": len(rows),
        "successful": sum(r["success"] for r in rows),
        "expectations": rows,
    }


# ------------------------------------------------------------------------------------------------------ main entry


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

    def resolve_root(r: str) -> Path:
        root = Path(r)
        return (base / root if base is not None and not root.is_absolute() else root).resolve()

    roots = [resolve_root(r) for r in data_cfg.allowed_roots] if data_cfg.allowed_roots is not None else None
    check_media = _MediaChecker(roots, data_cfg.max_image_pixels)
    reject_tokens = [t for t in special_tokens if t] if data_cfg.literal_special_tokens == "reject" else []
    escape_tokens = [t for t in special_tokens if t] if data_cfg.literal_special_tokens == "escape" else []
    escaped: list[int] = []

    samples: list[Sample] = []
    issues: list[Issue] = []
    table: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    duplicates: list[tuple[int, int]] = []
    shrunk: list[dict[str, Any]] = []
    with _pillow_pixel_limit(data_cfg.max_image_pixels):
        for index, row in enumerate(rows):
            try:
                sample = parse_row(
                    row,
                    index,
                    data_cfg.user_key,
                    data_cfg.assistant_key,
                    data_cfg.system_key,
                    data_cfg.image_folder,
                    data_cfg.video_folder,
                    base,
                )
            except RowError as e:
                issues.append(Issue(index, e.row_id, e.reason, e.kind))
                if isinstance(row, dict):
                    table.append(_summarise(index, row, data_cfg, parse_ok=False, media_ok=None))
                continue
            samples.append(sample)
            if escape_tokens and _escape_sample(sample, escape_tokens):
                escaped.append(index)
            media = [check_media("image", p) for p in sample.images] + [check_media("video", p) for p in sample.videos]
            media_problems = [p for p in media if p is not None]
            problems = media_problems + _limit_problems(sample, model_limits)
            token_problem = _special_token_problem(sample, reject_tokens)
            if token_problem:
                problems.append(token_problem)
            if not problems and token_length is not None:
                if data_cfg.on_overlength == "shrink" and max_length is not None:
                    length_problems, record = _shrink_to_fit(sample, token_length, max_length, data_cfg)
                    problems += length_problems
                    if record is not None and not length_problems:
                        shrunk.append(record)
                else:
                    problems += _length_problems(sample, token_length, max_length)
            issues += [Issue(index, sample.id, reason, kind) for kind, reason in problems]
            table.append(_summarise(index, row, data_cfg, parse_ok=True, media_ok=not media_problems))
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
