"""Validation at scale: the per-row result cache, parallel checks, header-only image sizes, the size-only token count
and benchmarks/scale.py (issue 14)."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import asdict
from pathlib import Path

import pytest
from PIL import Image

from components.config import DataConfig, load_config
from components.data import media
from components.data.media_cache import MediaSettings
from components.data.prepare import token_counter
from components.data.rows import parse_row
from components.data.validate import RowCache, validate_samples
from components.data.validation_cache import ValidationCache
from components.models.loading import ModelRef
from tests.bad_inputs import MAX_LENGTH, SPECIAL_TOKENS, build_corpus, fake_token_length

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def _validate(path, data_cfg, cache=None, workers=0, stats=None):
    samples, report = validate_samples(
        path, data_cfg, token_length=fake_token_length, special_tokens=SPECIAL_TOKENS, max_length=MAX_LENGTH,
        workers=workers, cache=cache, stats=stats,
    )  # fmt: skip
    return [asdict(s) for s in samples], report.to_dict()


def _row(row_id: str, question: str, answer: str, **media) -> dict:
    turns = [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
    return {"id": row_id, **media, "conversations": turns}


def test_report_is_the_same_with_and_without_the_cache(corpus, tmp_path):
    """The bad-input corpus (every issue kind) validated without a cache, into an empty cache, and from the filled
    cache: the same samples and the same report each time; the second pass checks no row again."""
    plain = _validate(corpus.path, corpus.data_cfg)
    cache = RowCache(ValidationCache(tmp_path / "v.sqlite"), "context")
    cold_stats, warm_stats = {}, {}
    assert _validate(corpus.path, corpus.data_cfg, cache, stats=cold_stats) == plain
    assert _validate(corpus.path, corpus.data_cfg, cache, stats=warm_stats) == plain
    assert cold_stats["cached"] == 0 and cold_stats["checked"] == cold_stats["parsed"] > 0
    assert warm_stats["cached"] == warm_stats["rows"] and warm_stats["parsed"] == cold_stats["parsed"]
    assert warm_stats["checked"] == 0
    assert plain[1]["issues"], "the corpus has bad rows"


def test_cached_rows_at_new_indices_and_new_rows(corpus, tmp_path):
    """A row inserted at the front shifts every index: cached outcomes still name their row's new index (the collator's
    `row N:` reasons included) and only the new row is checked; another context shares nothing."""
    cache = RowCache(ValidationCache(tmp_path / "v.sqlite"), "context")
    _validate(corpus.path, corpus.data_cfg, cache)
    rows = json.loads(corpus.path.read_text())
    shifted = corpus.path.with_name("shifted.json")
    shifted.write_text(json.dumps([_row("new", "hi", "yo"), *rows]))
    stats = {}
    assert _validate(shifted, corpus.data_cfg, cache, stats=stats) == _validate(shifted, corpus.data_cfg)
    assert stats["checked"] == 1 and stats["cached"] == stats["rows"] - 1  # (rows that fail to parse included)
    reasons = [i["reason"] for i in _validate(shifted, corpus.data_cfg)[1]["issues"]]
    assert any(r.startswith(f"row {corpus.tags['collator_all_masked'] + 1}: ") for r in reasons)
    other = {}
    _validate(corpus.path, corpus.data_cfg, RowCache(cache.store, "another processor"), stats=other)
    assert other["cached"] == 0


def test_changed_media_bytes_recheck_the_rows_that_use_them(corpus, tmp_path):
    """A media file rewritten in place (new bytes, new mtime) gets a new digest: its rows are checked again."""
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (20, 20), "red").save(data / "a.png")
    rows = [_row(str(i), f"<image>\nq{i}", "red", image="a.png") for i in range(3)]
    path = data / "rows.json"
    path.write_text(json.dumps(rows))
    cfg = DataConfig(train_path=str(path))
    cache = RowCache(ValidationCache(tmp_path / "v.sqlite"), "context")
    _validate(path, cfg, cache)
    (data / "a.png").write_bytes(b"not an image any more")
    stats = {}
    _, report = _validate(path, cfg, cache, stats=stats)
    assert stats["checked"] == 3 and report["issue_counts"] == {"corrupt_image": 3}


def test_an_unchanged_file_is_answered_whole_from_the_cache(corpus, tmp_path):
    """The same file bytes, context and media versions: the stored outcome of the whole file, no row parsed, with the
    same samples, report and HTML page (GX's Data Docs included). A changed file, a touched media file or another
    context is not answered whole."""
    cache = RowCache(ValidationCache(tmp_path / "v.sqlite"), "context")

    def run(path, cache, stats):
        samples, report = validate_samples(
            path, corpus.data_cfg, token_length=fake_token_length, special_tokens=SPECIAL_TOKENS,
            max_length=MAX_LENGTH, cache=cache, stats=stats,
        )  # fmt: skip
        # each rendering of a GX page has its own time stamp and element ids
        html = re.sub(
            r"\?d=\d{8}T[\d.]+Z|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "", report.to_html()
        )
        return [asdict(s) for s in samples], report.to_dict(), html

    cold, warm = {}, {}
    first = run(corpus.path, cache, cold)
    assert run(corpus.path, cache, warm) == first
    assert cold["whole_file"] is False and warm["whole_file"] is True and warm["checked"] == 0
    assert "GX Data Docs lmms_rows" in first[2] and "GX Data Docs lmms_dataset" in first[2]
    other = {}
    run(corpus.path, RowCache(cache.store, "another processor"), other)
    assert other["whole_file"] is False and other["cached"] == 0
    changed = corpus.path.with_name("changed.json")
    changed.write_text(json.dumps([*json.loads(corpus.path.read_text()), _row("new", "hi", "yo")]))
    again = {}
    run(changed, cache, again)
    assert again["whole_file"] is False and again["checked"] == 1
    used = {p for s in first[0] for p in s["images"]}
    image = next(p for p in sorted(Path(corpus.path).parent.rglob("*.png")) if p.is_file() and str(p) in used)
    before = image.read_bytes()
    try:
        image.write_bytes(before + b"\0")
        touched = {}
        assert run(corpus.path, cache, touched)[1] == first[1]  # the same outcome, found again by the row checks
        assert touched["whole_file"] is False and touched["checked"] > 0
    finally:
        image.write_bytes(before)


def test_appended_rows_share_the_outcome_of_the_rows_before_them(corpus, tmp_path):
    """A JSONL file validated, then rows appended (to it, or in another file that starts with its rows): the first
    rows' outcome is taken whole from the earlier validation (no row record read), only the appended rows are
    checked, and samples and report are those of an uncached validation, with duplicates and failed expectations
    across old and new rows. Other first rows, or a media file changed since, share nothing."""
    rows = json.loads(corpus.path.read_text())
    jsonl = corpus.path.with_name("rows.jsonl")

    def write(path, rows):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    write(jsonl, rows)
    cache = RowCache(ValidationCache(tmp_path / "v.sqlite"), "context")
    _validate(jsonl, corpus.data_cfg, cache)
    image_row = next(r for r in rows if isinstance(r, dict) and r.get("id") == "image")
    added = [
        _row("appended", "hi", "yo"),
        _row("text_only", "a new row with an old row's id", "x"),
        {**image_row, "id": "image_again"},  # the same content as an old row
    ]
    grown = rows + added
    write(jsonl, grown)
    stats = {}
    got = _validate(jsonl, corpus.data_cfg, cache, stats=stats)
    assert got == _validate(jsonl, corpus.data_cfg)
    assert stats["shared_start"] == len(rows) and stats["checked"] == len(added) and stats["cached"] == len(rows)
    new = len(rows)
    assert any(i["index"] == new + 1 and i["kind"] == "expect_column_values_to_be_unique" for i in got[1]["issues"])
    assert [new + 2, rows.index(image_row)] in [list(d) for d in got[1]["duplicates"]]

    other = jsonl.with_name("other.jsonl")  # another file, starting with the rows of the longest one validated
    write(other, [*grown, _row("more", "a", "b")])
    stats = {}
    assert _validate(other, corpus.data_cfg, cache, stats=stats) == _validate(other, corpus.data_cfg)
    assert stats["shared_start"] == len(grown) and stats["checked"] == 1

    write(other, [_row("first", "a", "b"), *grown])  # other first rows: each row from its own record
    stats = {}
    assert _validate(other, corpus.data_cfg, cache, stats=stats) == _validate(other, corpus.data_cfg)
    assert stats["shared_start"] == 0 and stats["checked"] == 1 and stats["cached"] == len(grown)

    image = Path(corpus.path).parent / "media" / image_row["image"]
    before = image.read_bytes()
    try:
        image.write_bytes(before + b"\0")  # every file validated so far names it
        write(jsonl, [*grown, _row("last", "a", "b")])
        stats = {}
        assert _validate(jsonl, corpus.data_cfg, cache, stats=stats) == _validate(jsonl, corpus.data_cfg)
        assert stats["shared_start"] == 0 and stats["checked"] > 1
    finally:
        image.write_bytes(before)


def test_digests_are_read_only_when_size_or_mtime_change(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"aaaa")
    first = ValidationCache(tmp_path / "v.sqlite").digests([str(f)])[str(f)]
    assert first == media.file_digest(f)
    st = os.stat(f)
    f.write_bytes(b"bbbb")  # same size, and the old mtime put back: taken as unchanged, not read again
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ValidationCache(tmp_path / "v.sqlite").digests([str(f)])[str(f)] == first
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new mtime: read again
    assert ValidationCache(tmp_path / "v.sqlite").digests([str(f)])[str(f)] == media.file_digest(f) != first
    assert ValidationCache(tmp_path / "v.sqlite").digests([str(tmp_path / "gone")]) == {
        str(tmp_path / "gone"): "missing"
    }


def test_a_corrupt_cache_file_is_recreated(corpus, tmp_path):
    db = tmp_path / "v.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    cache = RowCache(ValidationCache(db), "context")
    assert _validate(corpus.path, corpus.data_cfg, cache) == _validate(corpus.path, corpus.data_cfg)
    stats = {}
    _validate(corpus.path, corpus.data_cfg, RowCache(ValidationCache(db), "context"), stats=stats)
    assert stats["checked"] == 0  # the recreated file holds the results


def test_parallel_checks_give_the_in_process_report(corpus, tmp_path):
    """Enough rows to fork (the corpus repeated): the report from 2 worker processes equals the in-process one."""
    rows = json.loads(corpus.path.read_text())
    many = corpus.path.with_name("many.json")
    many.write_text(json.dumps(rows * (200 // len(rows) + 1)))
    assert _validate(many, corpus.data_cfg, workers=2) == _validate(many, corpus.data_cfg)


def _default_sigterm(_) -> bool:
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_forked_workers_end_on_sigterm_whatever_the_parent_handles():
    """A full test session hung 12 min in `Pool.__exit__`: `terminate` holds the task queue's lock and ends the
    workers with SIGTERM, but a worker waiting for that lock ran the SIGTERM handler copied from the parent (Gradio's
    server installs one) and waited on. The workers of validation and of preprocessing reset SIGTERM to its default."""
    from components.data import media_cache
    from components.data import validate as validate_module

    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        pool = multiprocessing.get_context("fork").Pool(2, initializer=validate_module._worker_init)
        try:
            assert pool.map(_default_sigterm, range(4)) == [True] * 4
            pool.close()  # as validation ends its pool (not `terminate`: see components/data/validate.py)
            pool.join()
        finally:
            pool.terminate()
        with media_cache._pool(2) as executor:
            assert list(executor.map(_default_sigterm, range(4))) == [True] * 4
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stall(indices):  # a worker that never answers
    time.sleep(60)


def test_stalled_workers_fall_back_to_this_process(corpus, monkeypatch, caplog):
    """Workers that give no result (a forked worker deadlocked on a lock held at fork time) do not hang validation:
    after STALL_S the remaining rows are checked in this process, with a warning, and the report is the same."""
    from components.data import validate as validate_module

    rows = json.loads(corpus.path.read_text())
    many = corpus.path.with_name("many.json")
    many.write_text(json.dumps(rows * (200 // len(rows) + 1)))
    expected = _validate(many, corpus.data_cfg)
    monkeypatch.setattr(validate_module, "STALL_S", 2)
    monkeypatch.setattr(validate_module, "_run_chunk", _stall)
    with caplog.at_level("WARNING", logger="components.data.validate"):
        assert _validate(many, corpus.data_cfg, workers=2) == expected
    assert "validation workers gave no result for 2 s" in caplog.text


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_upright_size_from_the_header_is_the_decoded_size(tmp_path, fmt, orientation):
    """media.upright_size (header only) equals the size load_image decodes, EXIF orientation applied."""
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (40, 24), "blue").save(path, fmt, exif=_exif(orientation))
    expected = media.load_image(path).size
    assert media.upright_size(path) == expected
    assert expected == ((24, 40) if orientation in (6, 8) else (40, 24))


def test_upright_size_reads_a_png_exif_chunk_after_the_pixels(tmp_path):
    """A PNG whose eXIf chunk follows its image data (Pillow only sees it when decoding) is decoded to read it."""
    src = tmp_path / "src.png"
    Image.new("RGB", (40, 24), "blue").save(src)
    raw = src.read_bytes()
    exif = _exif(6).tobytes()
    chunk = len(exif).to_bytes(4, "big") + b"eXIf" + exif + zlib.crc32(b"eXIf" + exif).to_bytes(4, "big")
    iend = raw.rindex(b"IEND") - 4
    late = tmp_path / "late.png"
    late.write_bytes(raw[:iend] + chunk + raw[iend:])
    assert media.load_image(late).size == (24, 40) == media.upright_size(late)
    assert media.upright_size(src) == (40, 24)


@pytest.fixture(scope="module")
def demo():
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    ref = ModelRef.from_config(cfg.model)
    return cfg, ref, ref.load_processor()


def test_size_only_count_equals_the_collator_count_under_resize_settings(demo, tmp_path):
    """The demo's Qwen2-VL processor is counted from sizes; on example rows of every shape, under a row max_pixels
    (what shrink sets), data.min_pixels / max_pixels and fewer frames, the count equals the collator's."""
    cfg, ref, processor = demo
    d = cfg.data
    rows = json.loads((ROOT / "example_data" / "train.json").read_text())[:40]
    # a large image, so that max_pixels resizing matters
    Image.new("RGB", (300, 200), "green").save(tmp_path / "big.jpg")
    rows.append(_row("big", "<image>\nq", "green", image=str(tmp_path / "big.jpg")))
    samples = [parse_row(r, i, image_folder=ROOT / d.image_folder, video_folder=ROOT / d.video_folder) for i, r in
               enumerate(rows)]  # fmt: skip
    for data in (d, d.model_copy(update={"min_pixels": 5000, "max_pixels": 20000, "num_frames": 3})):
        run = cfg.model_copy(update={"data": data})
        fast, slow = token_counter(run, processor, ref), token_counter(run, processor, ref, fast=False)
        for s in samples:
            for max_pixels in (None, 3000):
                s.max_pixels = max_pixels
                assert fast(s) == slow(s), (s.index, max_pixels, data)
        assert fast.counted["collator"] == 0 and fast.counted["fast"] == 2 * len(samples)
    assert MediaSettings.from_config(d).max_pixels is None


def test_media_seen_before_is_not_decoded_again(demo, tmp_path, monkeypatch):
    """New rows naming media files a cached validation checked (same bytes, same context) take those files' decode
    results and token sizes from the cache: nothing is decoded, and the report is the one of an uncached validation
    with the real token counter. A file rewritten with other bytes is decoded and sized again."""
    from components.data import media_checks, prepare
    from components.data import validate as validate_module

    cfg, ref, processor = demo
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (120, 80), "red").save(data / "a.png")
    shutil.copyfile(next((ROOT / "example_data" / "media" / "train").glob("vid_*.mp4")), data / "v.mp4")
    first = [_row("i0", "<image>\nq0", "red", image="a.png"), _row("v0", "<video>\nq1", "left", video="v.mp4")]
    more = [_row("i1", "<image>\nq2", "red", image="a.png"), _row("v1", "<video>\nq3", "left", video="v.mp4")]
    path = data / "rows.json"
    run = cfg.model_copy(update={"data": cfg.data.model_copy(update={"image_folder": str(data),
                                                                     "video_folder": str(data)})})  # fmt: skip
    calls = {"image": 0, "video": 0, "size": 0, "frames": 0}

    def counting(name, fn):
        def call(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return call

    monkeypatch.setattr(media_checks, "_check_image", counting("image", media_checks._check_image))
    monkeypatch.setattr(media_checks, "_check_video", counting("video", media_checks._check_video))
    monkeypatch.setattr(prepare.media, "upright_size", counting("size", media.upright_size))
    monkeypatch.setattr(prepare.media, "load_video", counting("frames", media.load_video))
    cache = RowCache(ValidationCache(tmp_path / "v.sqlite"), "context")

    def validate(rows, cache=None, workers=0):
        path.write_text(json.dumps(rows))
        for k in calls:
            calls[k] = 0
        stats = {}
        samples, report = validate_samples(
            path, run.data, token_length=token_counter(run, processor, ref), max_length=run.train.max_length,
            cache=cache, stats=stats, workers=workers,
        )  # fmt: skip
        return [asdict(s) for s in samples], report.to_dict(), stats, dict(calls)

    assert validate(first)[3] == {"image": 1, "video": 1, "size": 1, "frames": 1}  # what a file costs, uncached
    # the cold validation in two forked workers (one row each): what they learn comes back and is stored
    monkeypatch.setattr(validate_module, "MIN_CHUNK", 1)
    cold = validate(first, cache, workers=2)
    assert cold[2]["checked"] == 2 and cold[3] == {"image": 0, "video": 0, "size": 0, "frames": 0}  # (in the workers)
    warm = validate(first + more, cache)
    assert warm[2]["checked"] == 2 and warm[2]["cached"] == 2
    assert warm[3] == {"image": 0, "video": 0, "size": 0, "frames": 0}
    plain = validate(first + more)
    assert warm[:2] == plain[:2] and plain[3]["image"] == 1
    # another image under the same name: decoded and sized again, and counted at its own size
    Image.new("RGB", (300, 240), "blue").save(data / "a.png")
    changed = validate(first + more + [_row("i2", "<image>\nq4", "blue", image="a.png")], cache)
    assert changed[3]["image"] == 1 and changed[3]["size"] == 1 and changed[3]["video"] == 0
    assert changed[:2] == validate(first + more + [_row("i2", "<image>\nq4", "blue", image="a.png")])[:2]


def test_scale_benchmark_runs_small(tmp_path):
    """benchmarks/scale.py end to end on 200 rows: every phase reported; warm revalidation takes every row from the
    cache; after 1% new rows only the new rows are checked. Timings are reported, not asserted."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--rows", "200", "--json", "--workdir", str(tmp_path)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, timeout=900,
                                    env=env).stdout)  # fmt: skip
    phases = out["phases"]
    assert list(phases) == ["validate_cold", "validate_warm", "validate_new_rows", "validate_small",
                            "preprocess_cold", "preprocess_warm"]  # fmt: skip
    assert out["data"] == {"rows": 200, "new_rows": 2, "small_rows": 20, "images": 8, "videos": 2,
                           "generate_s": out["data"]["generate_s"]}  # fmt: skip
    for p in phases.values():
        assert p["rows"] > 0 and p["seconds"] > 0 and p["rows_per_s"] > 0 and p["peak_rss_mb"] > 0
    assert phases["validate_cold"]["cached"] == 0 and phases["validate_cold"]["checked"] == 200
    assert phases["validate_cold"]["valid"] == 200  # the generated rows are all valid
    assert phases["validate_warm"]["cached"] == 200 and phases["validate_warm"]["checked"] == 0
    assert phases["validate_new_rows"]["cached"] == 200 and phases["validate_new_rows"]["checked"] == 2
    assert phases["preprocess_cold"]["files"] == phases["preprocess_warm"]["files"] > 0
    assert {"warm_speedup", "new_rows_speedup", "peak_rss_ratio"} <= set(out)
