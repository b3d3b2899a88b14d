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

import itertools
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.render.renderer import ValidationResultsPageRenderer
from great_expectations.render.view import DefaultJinjaPageView

from components.config import DataConfig
from components.data.report import Issue
from components.data.row_checks import model_limit
from components.data.rows import PLACEHOLDER

MODALITIES = ("text", "image", "multi_image", "video")
ROW_SUITE_COLUMNS = ("index", "id", "raw_id", "n_images", "n_videos", "n_image_placeholders", "n_video_placeholders",
                     "modality")  # fmt: skip
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
    text = "".join(t["value"] for t in turns if isinstance(t.get("value"), str))
    n_images, n_videos = _count_files(row.get("image")), _count_files(row.get("video"))
    placeholders = Counter(m.group(1) for m in PLACEHOLDER.finditer(text))
    modality = "video" if n_videos else "multi_image" if n_images > 1 else "image" if n_images else "text"
    return {
        "index": index,
        "id": None if row.get("id") is None else str(row["id"]),
        "raw_id": row.get("id"),  # as written in the file: its type is checked
        "n_images": n_images,
        "n_videos": n_videos,
        "n_image_placeholders": placeholders["image"],
        "n_video_placeholders": placeholders["video"],
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


def stored_validations(validations: list[ExpectationSuiteValidationResult]) -> list[dict[str, Any]]:
    """The suites' validation results as JSON (GX's own serialisation), to be rendered later by `stored_data_docs`."""
    return [v.to_json_dict() for v in validations]


def stored_data_docs(stored: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """ExpectationOutcome.data_docs of validation results kept as JSON (loaded back through GX's own schema)."""
    validations = [expectationSuiteValidationResultSchema.load(v) for v in stored]
    return [(v.suite_name, data_docs_page(v)) for v in validations]


def data_docs_page(validation: ExpectationSuiteValidationResult) -> str:
    """GX's own Data Docs page of one validation result (the page `context.build_data_docs()` would write)."""
    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(validation))


def expectation_label(config: Any) -> str:
    """`expect_column_values_to_be_unique(column=id)`: the expectation's type and arguments, on one line."""
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "result_format") and v is not None}
    return f"{config.type}(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def _row_suite(model_limits: Any, max_length: int | None) -> list[gxe.Expectation]:
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


SUMMARY_COLUMNS = (*ROW_SUITE_COLUMNS, "parse_ok", "media_ok")  # every key of a summarise_row line


class SummaryTable:
    """summarise_row lines held column by column (GX's frames are built from the columns; validation stores them
    with a file's outcome, components/data/validate.py)."""

    def __init__(self, columns: dict[str, list] | None = None):
        self.columns = columns if columns is not None else {c: [] for c in SUMMARY_COLUMNS}

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]]) -> SummaryTable:
        table = cls()
        for row in rows:
            table.append(row)
        return table

    def append(self, row: dict[str, Any]) -> None:
        for column, values in self.columns.items():
            values.append(row[column])

    def __len__(self) -> int:
        return len(self.columns["index"])


def _rows_frame(table: SummaryTable, invalid: set[int], token_counts: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """The row suite's table, of the rows not in `invalid`: only the columns its expectations read (GX hashes the
    whole frame for its batch fingerprint); numeric columns as int64 / float64 (GX compares those vectorised, and
    any other dtype one value at a time in Python)."""
    index = np.asarray(table.columns["index"], dtype=np.int64)
    keep = ~np.isin(index, np.fromiter(invalid, dtype=np.int64, count=len(invalid)))
    columns: dict[str, Any] = {c: list(itertools.compress(table.columns[c], keep)) for c in ROW_SUITE_COLUMNS}
    counts = [token_counts.get(i, (np.nan, np.nan)) for i in columns["index"]]  # NaN: not counted (no processor)
    columns["n_tokens"] = np.array([c[0] for c in counts], dtype=float)
    columns["n_supervised"] = np.array([c[1] for c in counts], dtype=float)
    # the row index as the frame's (unnamed) index: GX returns it as unexpected_index_list directly (with
    # unexpected_index_column_names it looks each unexpected row up one at a time: seconds for thousands of rows)
    index = columns.pop("index")
    df = pd.DataFrame(columns, index=index)
    for col in ("id", "raw_id"):
        df[col] = df[col].astype(object)  # keep None as "no id" (and raw ids as written), not NaN
    return df


def _dataset_frame(table: SummaryTable, total: int, invalid: set[int]) -> pd.DataFrame:
    dropped = np.zeros(total)
    dropped[sorted(invalid)] = 1.0
    # each row's modality as a code; -1 for a dropped row (and a row that is no object), null in the share columns
    codes = np.full(total, -1)
    indices = np.asarray(table.columns["index"], dtype=int)
    code = {m: k for k, m in enumerate(MODALITIES)}
    modalities = np.fromiter((code[m] for m in table.columns["modality"]), dtype=int, count=len(table))
    kept = dropped[indices] == 0.0
    codes[indices[kept]] = modalities[kept]
    columns: dict[str, Any] = {"index": np.arange(total), "dropped": dropped}
    for code, m in enumerate(MODALITIES):
        columns[f"is_{m}"] = np.where(codes >= 0, (codes == code).astype(float), np.nan)
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
        "unexpected_rows": [int(i) for i in (res.get("unexpected_index_list") or [])[:EXAMPLES]],
        "error": error,
    }


def _named_rows(r: Any, df: pd.DataFrame) -> list[Issue]:
    """The rows a failed row expectation names: GX's unexpected_index_list (complete; the table's index is the row
    index), with each row's value of the expectation's column(s) read from the table (GX's unexpected_list stops at
    200 values); for unique ids, every occurrence but the first (kept)."""
    config, label = r.expectation_config, expectation_label(r.expectation_config)
    indices = sorted(int(i) for i in r.result.get("unexpected_index_list") or [])
    column = config.kwargs.get("column")
    columns = [column] if column is not None else [config.kwargs["column_A"], config.kwargs["column_B"]]
    rows = df.loc[indices, list(dict.fromkeys(["id", *columns]))]
    ids = [None if pd.isna(i) else i for i in rows["id"]]
    values = rows[column].tolist() if column is not None else list(zip(*(rows[c] for c in columns), strict=True))
    entries = list(zip(indices, ids, values, strict=True))
    if config.type == "expect_column_values_to_be_unique":
        first: dict[Any, int] = {}
        for index, _, value in entries:
            first.setdefault(value, index)
        return [
            Issue(index, row_id, f"{label}: id {value!r} repeats row {first[value]} (kept)", config.type)
            for index, row_id, value in entries
            if index != first[value]
        ]
    issues = []
    for index, row_id, value in entries:
        if column == "raw_id":
            what = f"id of type {type(value).__name__} ({value!r}), not one of {ID_TYPES}"
        elif column is not None:
            what = f"{column}={value!r}"
        else:  # a column pair: the pair of values
            what = f"({config.kwargs.get('column_A')}, {config.kwargs.get('column_B')})={value!r}"
        issues.append(Issue(index, row_id, f"{label}: {what}", config.type))
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
    table: SummaryTable | Sequence[dict[str, Any]],
    *,
    total: int,
    invalid: set[int],
    data_cfg: DataConfig,
    model_limits: Any = None,
    max_length: int | None = None,
    token_counts: dict[int, tuple[int, int]] | None = None,
) -> ExpectationOutcome:
    """Run both suites in an ephemeral GX context. `table` holds summarise_row lines (of every row that is an
    object; a list or a SummaryTable), `invalid` the indices the per-row checks rejected, `token_counts`
    (num_tokens, num_supervised) per row index as validation counted them."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("dataset").add_dataframe_asset("rows")
    batch_definition = asset.add_batch_definition_whole_dataframe("all_rows")

    if not isinstance(table, SummaryTable):
        table = SummaryTable.of(table)
    rows_frame = _rows_frame(table, invalid, token_counts or {})
    suite = _row_suite(model_limits, max_length)
    row_validation = _validate(batch_definition, context, ROW_SUITE, suite, rows_frame)
    row_issues: list[Issue] = []
    failures: list[str] = []
    rows = []
    for r in row_validation.results:
        rows.append(_result_row(ROW_SUITE, r))
        if r.success:
            continue
        label = expectation_label(r.expectation_config)
        if r.exception_info.get("raised_exception"):
            failures.append(f"failed expectation {label}: raised {r.exception_info.get('exception_message')}")
        elif not (r.result or {}).get("unexpected_index_list"):  # failed, but named no row: nothing to drop
            failures.append(f"failed expectation {label}: no rows named")
        else:
            row_issues += _named_rows(r, rows_frame)
        for key in ("unexpected_list", "unexpected_index_list"):  # decided: keep examples only (report, Data Docs)
            if key in (r.result or {}):
                r.result[key] = r.result[key][:EXAMPLES]
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
