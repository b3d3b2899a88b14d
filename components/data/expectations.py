"""The Great Expectations suites: where the dataset-level rules live, and their results decide.

Two suites run in one ephemeral GX context, over tables built from the per-row summaries:

- `lmms_rows`, over the rows that passed every per-row Python check: unique ids, id types, token length within
  `train.max_length` with at least one supervised token, media counts within the model's limits, placeholder counts,
  modality. The rows a failed expectation names (GX's own `unexpected_index_list`, result format COMPLETE) fail the
  run under `data.on_invalid: fail` or are dropped under `drop` (duplicate ids: the first occurrence is kept, the
  later ones dropped).
- `lmms_dataset`, over every row of the file after those decisions: the share of invalid rows at most
  `data.max_dropped_fraction`, each modality's share of the kept rows at least `data.min_modality_fraction`. These name
  no rows: a failure fails the run under either policy.

The report's HTML embeds GX's own Data Docs page of each suite's validation result.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.render.renderer import ValidationResultsPageRenderer
from great_expectations.render.view import DefaultJinjaPageView

from components.config import DataConfig
from components.data.report import Issue
from components.data.row_checks import model_limit
from components.data.rows import PLACEHOLDER

MODALITIES = ("text", "image", "multi_image", "video")
SUMMARY_COLUMNS = (
    "index", "id", "raw_id", "n_turns", "n_images", "n_videos", "n_image_placeholders", "n_video_placeholders",
    "text_chars", "answer_chars", "has_system", "modality", "parse_ok", "media_ok", "n_tokens", "n_supervised",
)  # fmt: skip
ROW_SUITE, DATASET_SUITE = "lmms_rows", "lmms_dataset"
ID_TYPES = ["str", "int"]
EXAMPLES = 20  # unexpected rows kept per expectation in the JSON results (the decision uses all of them)


def _count_files(value: Any) -> int:
    if isinstance(value, str):
        return 1
    return len(value) if isinstance(value, list) else 0


def summarise_row(index: int, row: dict, data_cfg: DataConfig, parse_ok: bool, media_ok: bool | None) -> dict[str, Any]:
    """One line of the GX table, computed from the raw row so that unparseable rows are described too (token counts
    are added by run_expectations, from the counts validation made)."""
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
        "raw_id": row.get("id"),  # as written in the file: its type is checked
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


@dataclass
class ExpectationOutcome:
    """What the suites decided: rows to drop (or to fail on), failures that name no row, and the results."""

    success: bool  # every expectation held
    results: dict[str, Any]  # JSON: per expectation, its arguments, success, counts, example rows, observed value
    row_issues: list[Issue]  # one per row a failed row expectation names (kind: the expectation's type)
    failures: list[str]  # failed expectations that name no row (dataset shares, an expectation that raised)
    validations: list[ExpectationSuiteValidationResult] = field(default_factory=list, repr=False)

    def data_docs(self) -> list[tuple[str, str]]:
        """(suite name, GX Data Docs HTML page) of each suite's validation result, rendered by GX itself."""
        return [(v.suite_name, data_docs_page(v)) for v in self.validations]


def data_docs_page(validation: ExpectationSuiteValidationResult) -> str:
    """GX's own Data Docs page of one validation result (the page `context.build_data_docs()` would write)."""
    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(validation))


def expectation_label(config: Any) -> str:
    """`expect_column_values_to_be_unique(column=id)`: the expectation's type and arguments, on one line."""
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format") and v is not None}
    return f"{config.type}(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def _row_suite(data_cfg: DataConfig, model_limits: Any, max_length: int | None) -> list[gxe.Expectation]:
    max_images = 0 if not model_limit(model_limits, "images") else None
    if max_images is None and not model_limit(model_limits, "multi_image"):
        max_images = 1
    expectations: list[gxe.Expectation] = [
        gxe.ExpectColumnValuesToBeUnique(column="id"),  # nulls (rows without id) are not counted
        gxe.ExpectColumnValuesToBeInTypeList(column="raw_id", type_list=ID_TYPES),
        gxe.ExpectColumnValuesToBeBetween(column="n_tokens", min_value=1, max_value=max_length),
        gxe.ExpectColumnValuesToBeBetween(column="n_supervised", min_value=1),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="n_image_placeholders", column_B="n_images"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="n_video_placeholders", column_B="n_videos"),
        gxe.ExpectColumnValuesToBeInSet(column="modality", value_set=list(MODALITIES)),
    ]
    if max_images is not None:
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column="n_images", max_value=max_images))
    if not model_limit(model_limits, "video"):
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column="n_videos", max_value=0))
    return expectations


def _dataset_suite(data_cfg: DataConfig) -> list[gxe.Expectation]:
    # the mean of a 0/1 column is a share: of invalid rows over all rows; of a modality over the kept rows (dropped
    # rows are null there, and GX leaves nulls out of a column's mean)
    expectations: list[gxe.Expectation] = [
        gxe.ExpectColumnMeanToBeBetween(column="dropped", min_value=0.0, max_value=data_cfg.max_dropped_fraction)
    ]
    for modality, share in (data_cfg.min_modality_fraction or {}).items():
        expectations.append(gxe.ExpectColumnMeanToBeBetween(column=f"is_{modality}", min_value=share, max_value=1.0))
    return expectations


def _rows_frame(table: list[dict[str, Any]], token_counts: dict[int, tuple[int, int]]) -> pd.DataFrame:
    df = pd.DataFrame(table, columns=list(SUMMARY_COLUMNS))
    counts = [token_counts.get(i) for i in df["index"]]
    df["n_tokens"] = pd.array([c[0] if c else None for c in counts], dtype="Int64")
    df["n_supervised"] = pd.array([c[1] if c else None for c in counts], dtype="Int64")
    for col in ("parse_ok", "media_ok", "id", "raw_id"):
        df[col] = df[col].astype(object)  # keep None as "not applicable" (and raw ids as written), not NaN/False
    return df


def _dataset_frame(table: list[dict[str, Any]], total: int, invalid: set[int]) -> pd.DataFrame:
    dropped = np.zeros(total)
    dropped[sorted(invalid)] = 1.0
    columns: dict[str, Any] = {"index": np.arange(total), "dropped": dropped}
    modality = {r["index"]: r["modality"] for r in table}
    for m in MODALITIES:
        column = np.full(total, np.nan)
        kept = [i for i, mod in modality.items() if i not in invalid]
        column[kept] = [float(modality[i] == m) for i in kept]
        columns[f"is_{m}"] = column
    return pd.DataFrame(columns)


def _result_row(suite: str, r: Any) -> dict[str, Any]:
    res = r.result or {}
    kwargs = {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"}
    error = r.exception_info.get("exception_message") if r.exception_info.get("raised_exception") else None
    observed = res.get("observed_value")
    return {
        "suite": suite,
        "expectation": r.expectation_config.type,
        "label": expectation_label(r.expectation_config),
        "kwargs": json.loads(json.dumps(kwargs, default=str)),
        "success": bool(r.success),
        "element_count": int(res.get("element_count") or 0),
        "unexpected_count": int(res.get("unexpected_count") or 0),
        "missing_count": int(res.get("missing_count") or 0),
        "unexpected_percent": res.get("unexpected_percent"),
        "observed_value": None if observed is None else float(observed),
        "unexpected_rows": [int(u["index"]) for u in (res.get("unexpected_index_list") or [])[:EXAMPLES]],
        "error": error,
    }


def _named_rows(r: Any, ids: dict[int, str | None]) -> list[Issue]:
    """The rows a failed row expectation names, from GX's unexpected_index_list; for unique ids, every occurrence
    but the first (the first is kept)."""
    config, label = r.expectation_config, expectation_label(r.expectation_config)
    entries = [(int(u["index"]), u) for u in r.result.get("unexpected_index_list") or []]
    column = config.kwargs.get("column")
    if config.type == "expect_column_values_to_be_unique":
        first: dict[Any, int] = {}
        for index, u in sorted(entries, key=lambda e: e[0]):
            first.setdefault(u[column], index)
        return [
            Issue(
                index, ids.get(index), f"{label}: id {u[column]!r} repeats row {first[u[column]]} (kept)", config.type
            )
            for index, u in sorted(entries, key=lambda e: e[0])
            if index != first[u[column]]
        ]
    issues = []
    for index, u in sorted(entries, key=lambda e: e[0]):
        values = ", ".join(f"{k}={v!r}" for k, v in u.items() if k != "index")
        if column == "raw_id":
            values = f"id of type {type(u[column]).__name__} ({u[column]!r}), not one of {ID_TYPES}"
        issues.append(Issue(index, ids.get(index), f"{label}: {values}", config.type))
    return issues


def _dataset_failure(r: Any, total: int, num_invalid: int, data_cfg: DataConfig) -> str:
    label, column = expectation_label(r.expectation_config), r.expectation_config.kwargs.get("column")
    if r.exception_info.get("raised_exception"):
        return f"failed expectation {label}: raised {r.exception_info.get('exception_message')}"
    observed = (r.result or {}).get("observed_value")
    if column == "dropped":
        why = (
            f"{num_invalid} of {total} rows invalid ({observed:.1%}), above "
            f"data.max_dropped_fraction={data_cfg.max_dropped_fraction}"
        )
    elif observed is None:
        why = "no rows kept, so no modality share"
    else:
        modality = column.removeprefix("is_")
        share = (data_cfg.min_modality_fraction or {})[modality]
        kept = total - num_invalid
        why = f"{modality} rows are {observed:.1%} of {kept} kept rows, below "
        why += f"data.min_modality_fraction.{modality}={share}"
    return f"failed expectation {label}: {why}"


def _validate(batch_definition: Any, context: Any, name: str, expectations: Iterable, df: pd.DataFrame) -> Any:
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    result_format = {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": ["index"],
        "return_unexpected_index_query": False,
        "partial_unexpected_count": EXAMPLES,
    }
    validation = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(
        suite, result_format=result_format
    )
    for r in validation.results:  # numpy scalars as Python numbers: GX's Data Docs renderer formats them via repr()
        r.result = _plain(r.result)
    return validation


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_expectations(
    table: list[dict[str, Any]],
    *,
    total: int,
    invalid: set[int],
    data_cfg: DataConfig,
    model_limits: Any = None,
    max_length: int | None = None,
    token_counts: dict[int, tuple[int, int]] | None = None,
) -> ExpectationOutcome:
    """Run both suites in an ephemeral GX context. `table` holds summarise_row lines (of every row that is an
    object), `invalid` the indices the per-row checks rejected, `token_counts` (num_tokens, num_supervised) per row
    index as validation counted them."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("dataset").add_dataframe_asset("rows")
    batch_definition = asset.add_batch_definition_whole_dataframe("all_rows")

    candidates = [r for r in table if r["index"] not in invalid]
    row_validation = _validate(
        batch_definition,
        context,
        ROW_SUITE,
        _row_suite(data_cfg, model_limits, max_length),
        _rows_frame(candidates, token_counts or {}),
    )
    ids = {r["index"]: r["id"] for r in candidates}
    row_issues: list[Issue] = []
    failures: list[str] = []
    rows = []
    for r in row_validation.results:
        rows.append(_result_row(ROW_SUITE, r))
        if r.success:
            continue
        if r.exception_info.get("raised_exception"):
            failures.append(f"failed expectation {expectation_label(r.expectation_config)}: raised "
                            f"{r.exception_info.get('exception_message')}")  # fmt: skip
        else:
            row_issues += _named_rows(r, ids)
    validations = [row_validation]
    if total:  # an empty file has no shares
        dropped = invalid | {i.index for i in row_issues}
        dataset_validation = _validate(
            batch_definition, context, DATASET_SUITE, _dataset_suite(data_cfg), _dataset_frame(table, total, dropped)
        )
        validations.append(dataset_validation)
        for r in dataset_validation.results:
            rows.append(_result_row(DATASET_SUITE, r))
            if not r.success:
                failures.append(_dataset_failure(r, total, len(dropped), data_cfg))
    success = all(v.success for v in validations)
    results = {
        "success": success,
        "evaluated": len(rows),
        "successful": sum(r["success"] for r in rows),
        "expectations": rows,
    }
    return ExpectationOutcome(success, results, row_issues, failures, validations)
