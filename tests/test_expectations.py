"""The Great Expectations suites decide: a rule only an expectation holds (unique ids, id types) fails the run under
`data.on_invalid: fail` and drops the rows GX names under `drop`; the dataset-level shares fail the run under either
policy; the report embeds GX's own Data Docs."""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from components.cli import main
from components.config import DataConfig
from components.data.expectations import run_expectations, summarise_row
from components.data.report import DatasetInvalid
from components.data.validate import apply_policy, validate_samples

ROOT = Path(__file__).parent.parent
UNIQUE = "expect_column_values_to_be_unique(column=id)"


def _row(rid: object, question: str = "q", **media: object) -> dict:
    row = {"id": rid, **media, "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": "a"}]}
    return row if rid is not None else {k: v for k, v in row.items() if k != "id"}


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    Image.new("RGB", (8, 8), "red").save(tmp_path / "red.png")
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows))
    return path


def _duplicates(tmp_path: Path) -> Path:
    """Five valid rows (distinct content, one with an image) whose ids repeat: 'dup' at rows 1, 2 and 4."""
    rows = [_row("a", "q0"), _row("dup", "q1"), _row("dup", "<image>\nq2", image="red.png"), _row("b", "q3")]
    return _write(tmp_path, [*rows, _row("dup", "q4")])


def _validate(path: Path, **data: object):
    cfg = DataConfig(train_path=str(path), **data)
    return validate_samples(path, cfg, token_length=lambda s: (10, 1), max_length=64)


def test_duplicate_ids_fail_the_run_under_fail(tmp_path: Path):
    samples, report = _validate(_duplicates(tmp_path))
    # the per-row checks find nothing: every issue is the expectation's, on the rows GX listed
    assert {i.kind for i in report.issues} == {"expect_column_values_to_be_unique"}
    unique = next(r for r in report.gx_results["expectations"] if r["label"] == UNIQUE)
    assert unique["success"] is False and unique["unexpected_rows"] == [1, 2, 4]  # GX names every occurrence
    assert [(i.index, i.row_id) for i in report.issues] == [(2, "dup"), (4, "dup")]  # the first is kept
    assert not report.ok and report.gx_success is False
    with pytest.raises(DatasetInvalid) as err:
        apply_policy(samples, report, "fail")
    message = str(err.value)
    assert "2 of 5 rows are invalid" in message
    assert f"  failed expectation {UNIQUE}: 2 row(s): row 2 (id=dup), row 4 (id=dup)\n" in message
    page = report.to_html()
    assert UNIQUE in html.unescape(page) and "expect_column_values_to_be_unique (2; showing 2)" in page


def test_duplicate_ids_are_dropped_under_drop_keeping_the_first(tmp_path: Path):
    samples, report = _validate(_duplicates(tmp_path))
    kept, quarantine = apply_policy(samples, report, "drop")
    assert [s.index for s in kept] == [0, 1, 3]
    assert [(q["index"], q["id"], q["kinds"]) for q in quarantine] == [
        (2, "dup", ["expect_column_values_to_be_unique"]),
        (4, "dup", ["expect_column_values_to_be_unique"]),
    ]
    assert quarantine[0]["reasons"] == [f"{UNIQUE}: id 'dup' repeats row 1 (kept)"]
    assert quarantine[1]["row"] == json.loads((tmp_path / "data.json").read_text())[4]
    # the dataset suite saw the expectation's drops: 2 of 5 rows
    dropped = next(r for r in report.gx_results["expectations"] if r["kwargs"].get("column") == "dropped")
    assert dropped["observed_value"] == pytest.approx(0.4)


def test_id_types_are_an_expectation(tmp_path: Path):
    path = _write(tmp_path, [_row("a"), _row(7, "q1"), _row(1.5, "q2"), _row(["x"], "q3"), _row(None, "q4")])
    samples, report = _validate(path)
    assert [(i.index, i.kind) for i in report.issues] == [
        (2, "expect_column_values_to_be_in_type_list"),
        (3, "expect_column_values_to_be_in_type_list"),
    ]
    assert "id of type float (1.5), not one of ['str', 'int']" in report.issues[0].reason
    assert [s.index for s in apply_policy(samples, report, "drop")[0]] == [0, 1, 4]  # no id at all is fine


def test_the_share_of_invalid_rows_is_capped_under_drop(tmp_path: Path):
    """Three duplicates of one id and a row without an answer: 3 of 6 rows invalid (the expectation's drops count)."""
    rows = [_row("a", "q0"), _row("a", "q1"), _row("a", "q2"), _row("b", "q3"), _row("c", "q4")]
    path = _write(tmp_path, [*rows, {"id": "bad", "conversations": [{"from": "human", "value": "q"}]}])
    samples, report = _validate(path, max_dropped_fraction=0.4)
    assert report.expectation_failures == [
        "failed expectation expect_column_mean_to_be_between(column=dropped, min_value=0.0, max_value=0.4): "
        "3 of 6 rows invalid (50.0%), above data.max_dropped_fraction=0.4"
    ]
    for policy in ("drop", "fail"):
        with pytest.raises(DatasetInvalid) as err:
            apply_policy(samples, report, policy)
        assert f"{path}: failed expectation expect_column_mean_to_be_between(column=dropped" in str(err.value)
    samples, report = _validate(path, max_dropped_fraction=0.5)  # the bound is inclusive
    assert report.expectation_failures == [] and len(apply_policy(samples, report, "drop")[0]) == 3


def test_a_modality_below_its_share_fails_under_either_policy(tmp_path: Path):
    rows = [_row("t1"), _row("t2", "q2"), _row("t3", "q3"), _row("i1", "<image>\nq", image="red.png")]
    path = _write(tmp_path, rows)
    samples, report = _validate(path, min_modality_fraction={"video": 0.05, "image": 0.25, "text": 0.5})
    assert not report.issues and not report.ok
    assert report.expectation_failures == [
        "failed expectation expect_column_mean_to_be_between(column=is_video, min_value=0.05, max_value=1.0): "
        "video rows are 0.0% of 4 kept rows, below data.min_modality_fraction.video=0.05"
    ]  # image (25%) and text (75%) meet theirs
    for policy in ("drop", "fail"):
        with pytest.raises(DatasetInvalid, match=r"is_video.*below data.min_modality_fraction.video=0.05"):
            apply_policy(samples, report, policy)
    assert "Failed dataset expectations (the run fails)" in report.to_html()


def test_modality_shares_count_kept_rows_only(tmp_path: Path):
    """The image row's id repeats the text row's: once it is dropped, no image row is kept."""
    path = _write(tmp_path, [_row("a"), _row("b", "q1"), _row("a", "<image>\nq", image="red.png")])
    _, report = _validate(path, on_invalid="drop", min_modality_fraction={"image": 0.3})
    assert [i.index for i in report.issues] == [2]
    assert report.expectation_failures and "image rows are 0.0% of 2 kept rows" in report.expectation_failures[0]


def test_html_embeds_gx_data_docs(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    _, report = _validate(_duplicates(tmp_path), min_modality_fraction={"text": 0.5})
    with caplog.at_level(logging.ERROR):
        page = report.to_html()
    frames = re.findall(r'<iframe title="GX Data Docs ([a-z_]+)"[^>]*srcdoc="([^"]*)"', page)
    assert [suite for suite, _ in frames] == ["lmms_rows", "lmms_dataset"]
    rows_docs, dataset_docs = (html.unescape(doc) for _, doc in frames)
    for docs in (rows_docs, dataset_docs):
        assert "Data documentation compiled by Great Expectations" in docs and "ge-section" in docs
    assert "values must be unique" in rows_docs and "mean must be greater than or equal to" in dataset_docs
    assert not [r for r in caplog.records if "data docs" in r.getMessage().lower()]  # GX rendered without errors


def test_empty_table_runs_only_the_row_suite():
    outcome = run_expectations([], total=0, invalid=set(), data_cfg=DataConfig(min_modality_fraction={"video": 0.5}))
    assert outcome.success and outcome.failures == [] and [v.suite_name for v in outcome.validations] == ["lmms_rows"]


def test_every_row_rejected_by_the_checks_leaves_no_share(tmp_path: Path):
    cfg = DataConfig()
    table = [summarise_row(i, _row(str(i)), cfg, parse_ok=True, media_ok=False) for i in range(3)]
    outcome = run_expectations(
        table, total=3, invalid={0, 1, 2}, data_cfg=DataConfig(min_modality_fraction={"text": 0.5})
    )
    assert outcome.row_issues == []
    assert outcome.failures == [
        "failed expectation expect_column_mean_to_be_between(column=is_text, min_value=0.5, max_value=1.0): "
        "no rows kept, so no modality share"
    ]


def test_lmms_validate_prints_the_failed_expectation(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = _duplicates(tmp_path)
    assert main(["validate", str(path)]) == 1  # an exception escaping main would fail the test
    err = capsys.readouterr().err
    assert f"  failed expectation {UNIQUE}: 2 row(s): row 2 (id=dup), row 4 (id=dup)\n" in err
    assert "Traceback" not in err


def test_every_row_gx_names_is_decided_past_its_200_value_cap():
    """GX's unexpected_list stops at 200 values; the decision reads the complete unexpected_index_list: 300 repeated
    ids are all dropped, and a placeholder mismatch (a column pair) is named with both values."""
    cfg = DataConfig()
    table = [summarise_row(i, _row(f"id{i % 300}", f"q{i}"), cfg, parse_ok=True, media_ok=True) for i in range(600)]
    table[5]["n_image_placeholders"] = 2
    outcome = run_expectations(table, total=600, invalid=set(), data_cfg=cfg)
    unique = [i for i in outcome.row_issues if i.kind == "expect_column_values_to_be_unique"]
    assert [i.index for i in unique] == list(range(300, 600))
    assert unique[0].reason.endswith("id 'id0' repeats row 0 (kept)") and unique[0].row_id == "id0"
    pair = [i for i in outcome.row_issues if i.kind == "expect_column_pair_values_to_be_equal"]
    assert [(i.index, i.reason.split(": ")[-1]) for i in pair] == [(5, "(n_image_placeholders, n_images)=(2, 0)")]
    dropped = next(r for r in outcome.results["expectations"] if r["kwargs"].get("column") == "dropped")
    assert dropped["observed_value"] == pytest.approx(301 / 600) and len(outcome.validations) == 2
