"""PreparedDataset as shards: the materializer's round trip through zenml.io.fileio, a content hash that does not
depend on the shard size, rows read lazily (one shard for one row), and preprocessing in worker processes giving
what the serial path gives."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.artifacts import (
    MANIFEST,
    LineRows,
    MediaCache,
    MediaDigests,
    PreparedDataset,
    Sample,
    ShardedRows,
    read_dataset,
    sample_line,
    write_dataset,
)
from components.data import media
from components.data.media_cache import POOL_MIN_JOBS, MediaSettings, media_key, preprocess_samples
from components.data.prepare import cached_loaders, cached_rows
from components.models.loading import ModelRef
from components.train.launch import JOB_DATASET, write_job
from components.train.recipe import RowsDataset
from materializers.dataset import PreparedDatasetMaterializer
from tests.train_jobs import config


def samples(n: int, start: int = 0) -> list[Sample]:
    """Rows of every shape a Sample takes: text-only, one and several images, a video, a system prompt, per-row
    settings, a raw row with nested and non-ASCII values."""
    out = []
    for i in range(start, start + n):
        kind = i % 4
        out.append(
            Sample(
                index=i,
                id=f"row-{i}",
                system_prompt="Be brief." if i % 3 == 0 else None,
                turns=[("user", "<image>\nWhat is shown? é ✓" if kind else "Hello"), ("assistant", f"answer {i}")],
                images=[f"/data/img{i}.png"] * (kind in (1, 2)) + [f"/data/img{i}b.png"] * (kind == 2),
                videos=[f"/data/clip{i}.mp4"] if kind == 3 else [],
                raw={"id": f"row-{i}", "nested": {"score": i / 7, "tags": ["a", None, True]}, "text": "Grüße"},
                max_frames=2 if kind == 3 and i % 2 else None,
                max_pixels=4096 if i % 5 == 0 else None,
            )
        )
    return out


def dataset(train: int = 23, eval_: int = 6) -> PreparedDataset:
    rows = samples(train) + samples(eval_, start=1000)
    digests = {p: hashlib.sha256(p.encode()).hexdigest() for s in rows for p in s.images + s.videos}
    report = {"train": {"rows": train, "ok": True}, "eval": {"rows": eval_, "ok": True}}
    return PreparedDataset(samples(train), samples(eval_, start=1000), digests, report, [{"row": 3, "split": "train"}])


class SmallShards(PreparedDatasetMaterializer):
    SHARD_ROWS = 5


def test_materializer_round_trip_in_several_shards(tmp_path):
    ds = dataset()
    uri = str(tmp_path / "artifact")
    SmallShards(uri).save(ds)
    manifest = json.loads((tmp_path / "artifact" / MANIFEST).read_text())
    assert [s["rows"] for s in manifest["splits"]["train"]["shards"]] == [5, 5, 5, 5, 3]
    assert [s["rows"] for s in manifest["splits"]["eval"]["shards"]] == [5, 1]
    assert manifest["content_hash"] == ds.content_hash()

    loaded = PreparedDatasetMaterializer(uri).load(PreparedDataset)
    assert isinstance(loaded.train, ShardedRows) and isinstance(loaded.media_digests, MediaDigests)
    assert (len(loaded.train), len(loaded.eval), len(loaded.media_digests)) == (23, 6, len(ds.media_digests))
    assert list(loaded.train) == ds.train and list(loaded.eval) == ds.eval  # iteration, every field back as it was
    assert [loaded.train[i] for i in (0, 4, 5, 22, -1, -23)] == [ds.train[i] for i in (0, 4, 5, 22, -1, -23)]
    assert loaded.train[3:12] == ds.train[3:12] and loaded.eval[::2] == ds.eval[::2]
    assert isinstance(loaded.train[0].turns[0], tuple)
    assert dict(loaded.media_digests) == ds.media_digests
    assert (loaded.report, loaded.quarantine) == (ds.report, ds.quarantine)
    assert loaded.content_hash() == ds.content_hash() and loaded == ds
    assert PreparedDatasetMaterializer(uri).extract_metadata(loaded)["train_rows"] == 23
    with pytest.raises(IndexError, match="row 23 out of range: the split has 23 rows"):
        loaded.train[23]


def test_content_hash_is_independent_of_shard_size_and_follows_the_data(tmp_path):
    ds = dataset()
    hashes = set()
    for shard_rows in (1, 4, 23, 10_000):
        root = tmp_path / str(shard_rows)
        root.mkdir()
        manifest = write_dataset(ds, root, shard_rows=shard_rows)
        assert len(manifest["splits"]["train"]["shards"]) == -(-23 // shard_rows)
        hashes |= {manifest["content_hash"], read_dataset(root).content_hash()}
        again = root / "again"  # a read-back dataset written again (streamed from its shards)
        again.mkdir()
        hashes.add(write_dataset(read_dataset(root), again, shard_rows=7)["content_hash"])
    assert hashes == {ds.content_hash()}

    edited = replace(ds, train=[*ds.train[:-1], replace(ds.train[-1], turns=[("user", "Hello"), ("assistant", "no")])])
    new_media = replace(ds, media_digests={**ds.media_digests, "/data/img1.png": "0" * 64})
    moved = replace(ds, train=ds.train[:-1], eval=[ds.train[-1], *ds.eval])  # a row changes split
    other = {edited.content_hash(), new_media.content_hash(), moved.content_hash(), ds.content_hash()}
    assert len(other) == 4


def test_rows_kept_as_lines_are_the_same_dataset(tmp_path):
    """A split held as its lines (LineRows, what validation's whole-file cache entry gives) reads back every sample
    as it was and writes the same shards and content hash as the samples themselves."""
    ds = dataset()
    as_lines = replace(ds, train=LineRows.of(ds.train), eval=LineRows([sample_line(s) for s in ds.eval]))
    assert (
        list(as_lines.train) == ds.train and as_lines.train[3:7] == ds.train[3:7] and as_lines.eval[-1] == ds.eval[-1]
    )
    assert isinstance(as_lines.train[0].turns[0], tuple) and as_lines.train == ds.train
    assert as_lines.content_hash() == ds.content_hash()
    kept = as_lines.train.keep({ds.train[1].index, ds.train[4].index})
    assert list(kept) == [ds.train[1], ds.train[4]] and kept.media == ds.train[1].images + ds.train[4].images
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert write_dataset(as_lines, tmp_path / "a", shard_rows=5) == write_dataset(ds, tmp_path / "b", shard_rows=5)
    assert (tmp_path / "a" / "train-00001.jsonl").read_bytes() == (tmp_path / "b" / "train-00001.jsonl").read_bytes()


def relocated(ds: PreparedDataset, root: str) -> PreparedDataset:
    """The same data read from another place: every media path under `root` (a bucket URI), the same bytes (digests),
    the report naming the other data file and folders."""

    def move(p: str) -> str:
        return root + p.removeprefix("/data")

    rows = {s: [replace(r, images=[*map(move, r.images)], videos=[*map(move, r.videos)]) for r in getattr(ds, s)]
            for s in ("train", "eval")}  # fmt: skip
    report = {k: {**v, "source": f"{root}/{k}.json", "image_folder": root, "video_folder": root}
              for k, v in ds.report.items()}  # fmt: skip
    digests = {move(p): d for p, d in ds.media_digests.items()}
    return PreparedDataset(rows["train"], rows["eval"], digests, report, ds.quarantine)


def test_content_hash_follows_the_media_bytes_not_where_they_are_kept(tmp_path):
    ds = dataset()
    remote = relocated(ds, "s3://bucket/data")
    assert remote.train[1].images[0] == "s3://bucket/data/img1.png" and remote.train != ds.train
    assert remote.content_hash() == ds.content_hash()
    for name, d in (("local", ds), ("remote", remote)):  # and as the manifest records it, read back or not
        (tmp_path / name).mkdir()
        assert write_dataset(d, tmp_path / name, shard_rows=4)["content_hash"] == ds.content_hash()
        back = read_dataset(tmp_path / name)
        assert back.content_hash() == ds.content_hash() and list(back.train) == list(d.train)
    # a media file with other bytes, wherever it is kept, is another dataset; so is a report that differs in content
    changed = relocated(replace(ds, media_digests={**ds.media_digests, "/data/img1.png": "0" * 64}), "s3://b/data")
    other_report = replace(remote, report={**remote.report, "eval": {**remote.report["eval"], "ok": False}})
    assert len({ds.content_hash(), changed.content_hash(), other_report.content_hash()}) == 3
    # a read-back split paired with other digests is hashed again, not taken from its manifest
    back, edited = read_dataset(tmp_path / "local"), {**ds.media_digests, "/data/img1.png": "0" * 64}
    assert replace(back, media_digests=edited).content_hash() == replace(ds, media_digests=edited).content_hash()
    assert replace(back, media_digests=edited).content_hash() != ds.content_hash()


class CountingOpener:
    """builtin open, recording every file opened and keeping the file objects (to see which were closed)."""

    def __init__(self):
        self.opened: list[str] = []
        self.files = []

    def __call__(self, path, mode="r"):
        self.opened.append(os.path.basename(path))
        f = open(path, mode)  # noqa: SIM115 (an opener returns the open file)
        self.files.append(f)
        return f


def test_rows_are_read_lazily_one_shard_at_a_time(tmp_path):
    ds = dataset(train=40)
    write_dataset(ds, tmp_path, shard_rows=10)
    opener = CountingOpener()
    loaded = read_dataset(tmp_path, opener=opener)
    assert opener.opened == [MANIFEST]
    assert len(loaded.train) == 40 and len(loaded.media_digests) == len(ds.media_digests)  # from the manifest
    assert opener.opened == [MANIFEST]

    assert loaded.train[0] == ds.train[0] and loaded.train[7] == ds.train[7]
    assert opener.opened == [MANIFEST, "train-00000.idx", "train-00000.jsonl"]  # one shard, opened once
    assert loaded.train[35] == ds.train[35] and loaded.train[12] == ds.train[12]
    assert opener.opened[3:] == ["train-00003.idx", "train-00003.jsonl", "train-00001.idx", "train-00001.jsonl"]
    shard0 = opener.files[2]
    assert shard0.closed, "at most ShardedRows.SHARD_CACHE shards stay open"
    assert not opener.files[-1].closed

    opener.opened.clear()
    assert list(loaded.train) == ds.train  # streams shard after shard, no index needed
    assert opener.opened == [f"train-0000{k}.jsonl" for k in range(4)]

    plain = read_dataset(tmp_path)
    assert plain.train[39] == ds.train[39]  # a shard is open now
    copy = pickle.loads(pickle.dumps(plain.train))  # what a spawned DataLoader worker gets: no open files
    assert copy[39] == ds.train[39] and copy[0] == ds.train[0] and len(copy) == 40


def test_training_reads_rows_lazily_through_the_media_cache_keys(tmp_path):
    """RowsDataset over cached_rows over shards: row i is read when the Trainer asks for it, and a row with its own
    settings is looked up under its own cache key."""
    ds = dataset(train=12)
    write_dataset(ds, tmp_path, shard_rows=4)
    opener = CountingOpener()
    loaded = read_dataset(tmp_path, opener=opener)
    default = MediaSettings(max_pixels=1_000_000)
    cache = MediaCache("unused", {}, default.__dict__)
    keys = []
    rows = RowsDataset(cached_rows(loaded.train, cache), keys.append, keys.append)
    assert len(rows) == 12 and opener.opened == [MANIFEST]
    row = rows[10]  # max_pixels 4096 (10 % 5 == 0), two images (10 % 4 == 2)
    assert opener.opened == [MANIFEST, "train-00002.idx", "train-00002.jsonl"]
    own = default.for_row(None, 4096)
    assert keys == [media_key(p, own, default) for p in ds.train[10].images] and len(row["images"]) == 2
    assert row["index"] == 10 and row["messages"][-1]["content"][-1]["text"] == "answer 10"
    keys.clear()
    rows[1]  # default settings: the plain path is the key
    assert keys == ds.train[1].images


def test_a_training_job_carries_the_rows_as_shards(tmp_path):
    ds = dataset()
    cfg = config(tmp_path)
    model = ModelRef("unused-model", "qwen2_vl")
    job = write_job(cfg, model, ds, MediaCache(str(tmp_path), {}, MediaSettings().__dict__), tmp_path / "run")
    spec = json.loads(job.read_text())
    assert spec["dataset"] == JOB_DATASET and "answer 0" not in job.read_text()  # no row in the job file
    back = read_dataset(job.parent / spec["dataset"])
    assert back.content_hash() == ds.content_hash() and list(back.train) == ds.train


def test_a_missing_manifest_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json: no dataset manifest"):
        read_dataset(tmp_path)


# --- preprocessing in worker processes ---


@pytest.fixture
def image_rows(tmp_path) -> list[Sample]:
    """More distinct files than POOL_MIN_JOBS (so workers > 0 uses the pool): each image in two rows, once under the
    defaults, and every fourth also under a row's own max_pixels (a second key for the same file)."""
    src = tmp_path / "src"
    src.mkdir()
    rows = []
    rng = np.random.default_rng(0)
    for i in range(POOL_MIN_JOBS + 14):
        path = src / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (40 + i, 64, 3), dtype=np.uint8)).save(path)
        turns = [("user", "<image>\nWhat?"), ("assistant", "this")]
        rows += [Sample(2 * i, None, None, turns, images=[str(path)]) for _ in range(2)]
        if i % 4 == 0:
            rows.append(Sample(2 * i + 1, None, None, turns, images=[str(path)], max_pixels=900))
    return rows


def cache_files(mapping: dict[str, str]) -> dict[str, bytes]:
    return {key: Path(target).read_bytes() for key, target in mapping.items()}


def test_parallel_preprocessing_equals_serial(tmp_path, image_rows):
    default = MediaSettings(max_pixels=2000)
    serial = preprocess_samples(image_rows, default, tmp_path / "serial", workers=0, progress=False)
    counts: dict = {}
    # the rows as the step gives them: read lazily from shards
    root = tmp_path / "shards"
    root.mkdir()
    write_dataset(PreparedDataset(image_rows, []), root, shard_rows=7)
    lazy = read_dataset(root)
    parallel = preprocess_samples(
        lazy.samples(), default, tmp_path / "parallel", workers=2, progress=False, counts=counts
    )
    assert len(serial.mapping) == POOL_MIN_JOBS + 14 + (POOL_MIN_JOBS + 14 + 3) // 4
    assert parallel.mapping.keys() == serial.mapping.keys()
    assert (parallel.hits, parallel.misses) == (serial.hits, serial.misses) == (0, len(serial.mapping))
    assert {k: Path(v).name for k, v in parallel.mapping.items()} == {
        k: Path(v).name for k, v in serial.mapping.items()
    }
    assert cache_files(parallel.mapping) == cache_files(serial.mapping)  # byte for byte
    assert counts == {"rows": len(image_rows), "rows_with_own_settings": sum(1 for s in image_rows if s.max_pixels)}

    warm = preprocess_samples(lazy.samples(), default, tmp_path / "parallel", workers=2, progress=False)
    assert (warm.hits, warm.misses) == (len(serial.mapping), 0) and warm.mapping == parallel.mapping


def test_parallel_preprocessing_names_an_undecodable_file(tmp_path, image_rows):
    broken = image_rows[-3].images[0]
    Path(broken).write_bytes(b"not an image")
    with pytest.raises(media.MediaError) as err:
        preprocess_samples(image_rows, MediaSettings(), tmp_path / "cache", workers=2, progress=False)
    assert err.value.path == broken and err.value.reason


def test_cached_loaders_read_what_parallel_preprocessing_wrote(tmp_path, image_rows):
    default = MediaSettings(max_pixels=2000)
    res = preprocess_samples(image_rows, default, tmp_path / "cache", workers=2, progress=False)
    cache = MediaCache(str(tmp_path / "cache"), res.mapping, default.__dict__)
    rows = RowsDataset(cached_rows(image_rows, cache), *cached_loaders(cache))
    own = next(i for i, s in enumerate(image_rows) if s.max_pixels)
    expected = media.load_image(image_rows[own].images[0], max_pixels=900)
    assert np.array_equal(np.asarray(rows[own]["images"][0]), np.asarray(expected))
