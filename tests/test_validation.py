from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from components.artifacts import Sample
from components.config import DataConfig, RunConfig
from components.data import media_checks
from components.data.prepare import dataset_fingerprint
from components.data.report import DatasetInvalid, ValidationReport
from components.data.rows import DatasetFileError, RowError, parse_row
from components.data.validate import apply_policy, validate_samples
from tests.bad_inputs import (
    IMAGE_ONLY,
    MAX_LENGTH,
    SPECIAL_TOKENS,
    Corpus,
    build_corpus,
    fake_token_length,
    whole_file_cases,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def validated(corpus: Corpus) -> tuple[list[Sample], ValidationReport, list[int]]:
    encoded: list[int] = []

    def token_length(sample: Sample) -> tuple[int, int]:
        encoded.append(sample.index)
        return fake_token_length(sample)

    samples, report = validate_samples(
        corpus.path, corpus.data_cfg, token_length=token_length, special_tokens=SPECIAL_TOKENS, max_length=MAX_LENGTH
    )
    return samples, report, encoded


def kinds_by_row(report: ValidationReport) -> dict[int, list[str]]:
    return {i: [issue.kind for issue in issues] for i, issues in report.issues_by_row().items()}


def test_every_bad_row_gets_its_kind(corpus: Corpus, validated):
    _, report, _ = validated
    got = kinds_by_row(report)
    assert got == {i: [kind] for i, kind in corpus.expected.items()}
    assert report.valid_indices == corpus.valid
    assert report.total == len(corpus.rows)
    for issue in report.issues:
        raw = corpus.rows[issue.index]
        assert issue.row_id == (raw.get("id") if isinstance(raw, dict) else None)


def test_awkward_but_valid_media_is_kept(corpus: Corpus, validated):
    _, report, _ = validated
    for name in ("cmyk_jpeg", "palette_png", "sixteen_bit_png", "unicode_name", "video", "image"):
        assert corpus.tags[name] in report.valid_indices, name


def test_reasons_name_the_problem(corpus: Corpus, validated):
    _, report, _ = validated
    reasons = {corpus.rows[i]["id"] if isinstance(corpus.rows[i], dict) else i: r for i, r in _reasons(report).items()}
    assert "outside the allowed roots" in reasons["symlink_escape"]
    assert "no_such.png" in reasons["missing_file"]
    assert "'<|im_end|>' in turn 1 (assistant)" in reasons["special_token_assistant"]
    assert "'<|im_end|>' in turn 0 (user)" in reasons["special_token_user"]
    assert "system prompt" in reasons["special_token_system"]
    assert "above max_length=512" in reasons["too_long"]
    assert "processor failed" in reasons["encode_error"]
    assert "streams: audio" in reasons["audio_only"]


def _reasons(report: ValidationReport) -> dict[int, str]:
    return {i: "; ".join(x.reason for x in issues) for i, issues in report.issues_by_row().items()}


def test_token_length_runs_only_on_rows_that_passed_everything_else(corpus: Corpus, validated):
    _, _, encoded = validated
    length_rows = {corpus.tags[n] for n in ("too_long", "all_masked", "encode_error", "collator_all_masked")}
    assert sorted(encoded) == sorted(set(corpus.valid) | length_rows)


def test_duplicates_are_flagged_and_kept(corpus: Corpus, validated):
    _, report, _ = validated
    assert report.duplicates == corpus.duplicates
    assert all(i in report.valid_indices for i, _ in report.duplicates)


def test_drop_keeps_every_valid_row_and_quarantines_exactly_the_bad_ones(corpus: Corpus, validated):
    samples, report, _ = validated
    kept, quarantine = apply_policy(samples, report, "drop")
    assert [s.index for s in kept] == corpus.valid
    assert [q["index"] for q in quarantine] == sorted(corpus.expected)
    for q in quarantine:
        assert q["kinds"] == [corpus.expected[q["index"]]]
        assert q["row"] == corpus.rows[q["index"]]
        assert q["reasons"] and all(q["reasons"])
    json.dumps(quarantine)


def test_fail_names_every_bad_row(corpus: Corpus, validated):
    samples, report, _ = validated
    with pytest.raises(DatasetInvalid) as err:
        apply_policy(samples, report, "fail")
    message = str(err.value)
    assert err.value.report is report
    assert {int(i) for i in re.findall(r"^  row (\d+)", message, re.MULTILINE)} == set(corpus.expected)
    assert f"{len(corpus.expected)} of {len(corpus.rows)} rows are invalid" in message
    row = corpus.tags["image_placeholders_too_many"]
    assert f"row {row} (id=image_placeholders_too_many): [placeholder_mismatch]" in message


def test_model_limits(corpus: Corpus):
    _, report = validate_samples(
        corpus.path, corpus.data_cfg, model_limits=IMAGE_ONLY, token_length=fake_token_length,
        special_tokens=SPECIAL_TOKENS, max_length=MAX_LENGTH,
    )  # fmt: skip
    got = kinds_by_row(report)
    assert set(got) == set(corpus.expected) | set(corpus.limit_expected)
    for i, kind in corpus.limit_expected.items():
        assert got[i] == [kind]
        assert "image-only-model" in _reasons(report)[i]
    # a broken video is reported for both reasons
    assert sorted(got[corpus.tags["truncated_mp4"]]) == ["corrupt_video", "unsupported_video"]
    # the suite holds the model's limit too; it sees only the rows the per-row checks kept, so nothing is left for it
    gx = {(r["expectation"], r["kwargs"].get("column")): r for r in report.gx_results["expectations"]}
    no_video = gx[("expect_column_values_to_be_between", "n_videos")]
    assert no_video["kwargs"]["max_value"] == 0 and no_video["success"]
    assert no_video["element_count"] == len(report.valid_indices)


def test_model_limits_from_a_family_object(tmp_path: Path):
    image = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(image)
    (tmp_path / "v.mp4").write_bytes(b"")

    def row(rid: str, question: str, **media: object) -> dict:
        return {
            "id": rid,
            **media,
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": "x"}],
        }

    rows = [row("v", "<video>", video="v.mp4"), row("m", "<image><image>", image=["a.png", "a.png"])]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(rows))
    family = SimpleNamespace(name="llava", images=True, multi_image=False, video=False)
    cfg = DataConfig(image_folder=str(tmp_path), video_folder=str(tmp_path))
    _, report = validate_samples(path, cfg, model_limits=family)
    assert "unsupported_video" in kinds_by_row(report)[0]
    assert kinds_by_row(report)[1] == ["too_many_images"]
    assert "'llava'" in _reasons(report)[1]


def test_media_is_checked_once_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    row = {"image": "a.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "x"}]}
    path = tmp_path / "d.json"
    path.write_text(json.dumps([dict(row, id=str(i)) for i in range(5)]))
    calls: list[Path] = []
    real = media_checks._check_image
    monkeypatch.setattr(media_checks, "_check_image", lambda p, m: calls.append(p) or real(p, m))
    _, report = validate_samples(path, DataConfig(image_folder=str(tmp_path)))
    assert report.ok and len(report.valid_indices) == 5
    assert len(calls) == 1
    assert len(report.duplicates) == 4


def test_special_tokens_are_accepted_when_escaped(corpus: Corpus):
    cfg = corpus.data_cfg.model_copy(update={"literal_special_tokens": "escape"})
    _, report = validate_samples(corpus.path, cfg, special_tokens=SPECIAL_TOKENS)
    assert "special_token" not in report.issue_counts
    assert corpus.tags["special_token_user"] in report.valid_indices


@pytest.mark.parametrize(
    "name", ["malformed_json", "not_utf8", "utf8_bom", "jsonl_bad_line", "jsonl_ok", "top_level_object", "empty_list"]
)
def test_whole_file_cases(tmp_path: Path, name: str):
    case = whole_file_cases(tmp_path)[name]
    cfg = DataConfig(image_folder=None, video_folder=None)
    if case.error is not None:
        with pytest.raises(DatasetFileError, match=re.escape(case.error)):
            validate_samples(case.path, cfg)
        return
    samples, report = validate_samples(case.path, cfg)
    assert report.ok and report.total == case.num_rows == len(report.valid_indices) == len(samples)
    assert apply_policy(samples, report, "fail") == (samples, [])


def test_gx_results(corpus: Corpus, validated):
    """The row suite runs over the rows the per-row checks kept (every rule holds there: the corpus' ids are unique);
    the dataset suite over every row, observing the share of invalid rows."""
    _, report, _ = validated
    assert report.gx_success is True and report.expectation_failures == []
    results = report.gx_results["expectations"]
    assert report.gx_results["evaluated"] == len(results) >= 8
    by_columns = {(r["expectation"], r["kwargs"].get("column") or r["kwargs"].get("column_A")): r for r in results}
    for key in [
        ("expect_column_pair_values_to_be_equal", "n_image_placeholders"),
        ("expect_column_values_to_be_unique", "id"),
        ("expect_column_values_to_be_between", "n_tokens"),
    ]:
        assert by_columns[key]["success"] and by_columns[key]["suite"] == "lmms_rows"
        assert by_columns[key]["element_count"] == len(corpus.valid)
    tokens = by_columns[("expect_column_values_to_be_between", "n_tokens")]
    assert tokens["kwargs"]["max_value"] == MAX_LENGTH and tokens["missing_count"] == 0  # every kept row was counted
    dropped = by_columns[("expect_column_mean_to_be_between", "dropped")]
    assert dropped["suite"] == "lmms_dataset" and dropped["success"]
    assert dropped["observed_value"] == pytest.approx(len(corpus.expected) / len(corpus.rows))
    assert not any(issue.kind.startswith("expect_") for issue in report.issues)  # no row left for an expectation


def test_gx_passes_on_clean_data(tmp_path: Path):
    case = whole_file_cases(tmp_path)["jsonl_ok"]
    _, report = validate_samples(case.path, DataConfig(image_folder=None, video_folder=None))
    assert report.gx_success and all(r["success"] for r in report.gx_results["expectations"])


def test_report_outputs(corpus: Corpus, validated):
    _, report, _ = validated
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["num_invalid"] == len(corpus.expected) and data["num_valid"] == len(corpus.valid)
    assert report.issue_counts["placeholder_mismatch"] == 4 and report.issue_counts["corrupt_image"] == 3
    assert report.modality_counts == {"text": 1, "image": 8, "multi_image": 1, "video": 2}
    assert report.text_only_share == pytest.approx(1 / 12)
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") and "placeholder_mismatch" in page and "expect_column" in page
    assert "&lt;|im_end|&gt;" in page and "<|im_end|>" not in page
    assert page.count("<h3>corrupt_image (3; showing 3)</h3>") == 1


def test_pillow_limit_is_restored(tmp_path: Path):
    before = Image.MAX_IMAGE_PIXELS
    validate_samples(whole_file_cases(tmp_path)["jsonl_ok"].path, DataConfig(max_image_pixels=5))
    assert before == Image.MAX_IMAGE_PIXELS


_Q, _A = {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}
_BAD_VIDEO = {"video": 3, "conversations": [_Q, _A]}


@pytest.mark.parametrize(
    ("row", "kind", "reason"),
    [
        ([], "not_object", "row must be an object, got list"),
        ({"conversations": [{"from": "human", "value": 1}]}, "wrong_type", "turn 0: 'value' must be a string, got int"),
        ({"conversations": [_Q]}, "role_order", "the last turn must be an assistant answer"),
        ({"image": 3, "conversations": []}, "empty_conversation", "'conversations' must be a non-empty list"),
        (_BAD_VIDEO, "wrong_type", "'video' must be a string or a list of strings, got int"),
    ],
)
def test_row_errors_carry_their_kind(row: object, kind: str, reason: str):
    with pytest.raises(RowError) as err:
        parse_row(row, 7)
    assert (err.value.index, err.value.kind, err.value.reason) == (7, kind, reason)


def test_apply_policy_rejects_unknown_policy(validated):
    samples, report, _ = validated
    with pytest.raises(ValueError, match="on_invalid"):
        apply_policy(samples, report, "ignore")  # type: ignore[arg-type]


def test_corpus_covers_at_least_30_kinds_of_bad_input(corpus: Corpus, tmp_path: Path):
    bad_rows = [name for name, i in corpus.tags.items() if i in corpus.expected or i in corpus.limit_expected]
    bad_files = [name for name, case in whole_file_cases(tmp_path).items() if case.error is not None]
    awkward = ["cmyk_jpeg", "palette_png", "sixteen_bit_png", "unicode_name", "system_turn"]  # must be kept
    assert len(bad_rows) + len(bad_files) + len(awkward) >= 30
    assert len(set(corpus.expected.values())) >= 20  # distinct reasons


def _colliding_folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A user's data file next to its own `train/img_0001.png` (corrupt), and another folder (the example data's
    stand-in) holding a valid image under the same name."""
    user, other = tmp_path / "user", tmp_path / "other"
    for folder in (user, other):
        (folder / "train").mkdir(parents=True)
    (user / "train" / "img_0001.png").write_bytes(b"not a png")
    Image.new("RGB", (8, 8), "red").save(other / "train" / "img_0001.png")
    row = {
        "id": "a",
        "image": "train/img_0001.png",
        "conversations": [{"from": "human", "value": "<image>\nColor?"}, {"from": "gpt", "value": "red"}],
    }
    data = user / "mydata.json"
    data.write_text(json.dumps([row]))
    return data, user, other


def test_own_train_path_drops_the_example_folders():
    assert DataConfig().image_folder == DataConfig().video_folder == "example_data/media"
    assert DataConfig().eval_path == "example_data/eval.json"
    own = DataConfig(train_path="mine.json")
    assert own.eval_path is None and own.image_folder is None and own.video_folder is None
    assert DataConfig(train_path="mine.json", image_folder="pics").image_folder == "pics"


def test_media_resolve_against_the_folder_given_for_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data, user, other = _colliding_folders(tmp_path)
    monkeypatch.chdir(tmp_path)
    # no folder given: the data file's own folder, whatever the working directory; the user's (corrupt) file is checked
    _, report = validate_samples(data, DataConfig(train_path=str(data)))
    assert kinds_by_row(report) == {0: ["corrupt_image"]}
    assert report.image_folder == report.video_folder == str(user)
    assert f"resolved against {user}" in report.error_message()
    assert report.to_dict()["image_folder"] == str(user)
    # a folder given (relative to base): that folder's same-named, valid image is checked
    _, report = validate_samples(data, DataConfig(train_path=str(data), image_folder="other"), base=tmp_path)
    assert report.ok and report.image_folder == str(other) and report.video_folder == str(user)
    assert report.folders() == f"images: {other}, videos: {user}"


def test_fingerprint_follows_the_media_the_rows_name(tmp_path: Path):
    data, user, other = _colliding_folders(tmp_path)
    cfg = RunConfig(data=DataConfig(train_path=str(data)))
    before = dataset_fingerprint(cfg)
    (other / "train" / "img_0001.png").write_bytes(b"changed")  # another folder's file of the same name
    (user / "unrelated.txt").write_text("x")  # a file no row names
    assert dataset_fingerprint(cfg) == before
    (user / "train" / "img_0001.png").write_bytes(b"the user's image, changed")
    assert dataset_fingerprint(cfg) != before
