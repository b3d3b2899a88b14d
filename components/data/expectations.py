"""The Great Expectations suite: one summary line per row (computed from the raw row, so that unparseable rows are
described too), validated as a table by an ephemeral GX context. A second, declarative view of the same data: its
results are reported, not enforced."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from components.config import DataConfig
from components.data.row_checks import model_limit
from components.data.rows import PLACEHOLDER

MODALITIES = ("text", "image", "multi_image", "video")
SUMMARY_COLUMNS = (
    "index", "id", "n_turns", "n_images", "n_videos", "n_image_placeholders", "n_video_placeholders", "text_chars",
    "answer_chars", "has_system", "modality", "parse_ok", "media_ok",
)  # fmt: skip


def _count_files(value: Any) -> int:
    if isinstance(value, str):
        return 1
    return len(value) if isinstance(value, list) else 0


def summarise_row(index: int, row: dict, data_cfg: DataConfig, parse_ok: bool, media_ok: bool | None) -> dict[str, Any]:
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
    if not model_limit(model_limits, "video"):
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column="n_videos", max_value=0))
    if not model_limit(model_limits, "multi_image"):
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
