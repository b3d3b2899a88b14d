"""Object storage on a local folder (the local stack's artifact store: the same code path as a bucket): the media cache
as content-addressed objects uploaded once, read through a local folder, and checkpoints mirrored complete-only.
The same paths against a real S3 API: tests/test_cloud_stack.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.artifacts import Sample
from components.data import media
from components.data.media_cache import MediaSettings, load_cached_image
from components.data.media_store import localize, preprocess_to_store
from components.storage import ObjectStore, ReadThroughCache, StorageError, bucket, is_uri, join, parent
from components.train.mirror import drop_remote, pull_latest, remote_checkpoints, upload_checkpoint
from components.train.resume import MARKER


def test_uri_helpers():
    assert is_uri("s3://b/k") and is_uri("gs://b/k") and is_uri("az://c/k")
    assert not is_uri("/data/x.png") and not is_uri("example_data/train.json") and not is_uri(None)
    assert bucket("s3://my-bucket/a/b.json") == "my-bucket"
    assert join("s3://b/data", "media", "x.png") == "s3://b/data/media/x.png"
    assert join("s3://b/data/", "../other/x.png") == "s3://b/other/x.png"
    assert join("s3://b/data", "gs://c/y.png") == "gs://c/y.png"
    assert parent("s3://b/data/train.json") == "s3://b/data"
    assert join("/tmp/a", "b") == "/tmp/a/b"


def _images(folder: Path, n: int) -> list[Sample]:
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
        samples.append(Sample(i, str(i), None, [("user", "<image>\nq"), ("assistant", "a")], images=[str(path)]))
    return samples


@pytest.mark.parametrize("remote", [False, True], ids=["local-folder", "memory-bucket"])
def test_media_objects_uploaded_once_and_a_changed_image_alone(tmp_path, remote):
    samples = _images(tmp_path / "src", 4)
    settings = MediaSettings(max_pixels=32 * 32)
    root = f"memory://{tmp_path.name}/lmms-media" if remote else str(tmp_path / "artifact-store" / "lmms-media")

    first = preprocess_to_store(samples, settings, ObjectStore(root), tmp_path / "pod1", workers=0, progress=False)
    assert (first.uploaded_objects, first.decoded) == (4, 4) and first.uploaded_bytes > 0
    stored = ObjectStore(root).names()
    assert sorted(Path(u).name for u in first.cache.mapping.values()) == sorted(stored) and len(stored) == 4

    # another run, in a fresh pod (empty staging folder): nothing decoded, nothing uploaded, the same mapping
    second = preprocess_to_store(samples, settings, ObjectStore(root), tmp_path / "pod2", workers=0, progress=False)
    assert (second.uploaded_objects, second.uploaded_bytes, second.decoded) == (0, 0, 0)
    assert second.cache.mapping == first.cache.mapping and not (tmp_path / "pod2").exists()

    Image.new("RGB", (40, 40), "red").save(samples[2].images[0])  # one source file changes
    third = preprocess_to_store(samples, settings, ObjectStore(root), tmp_path / "pod3", workers=0, progress=False)
    assert (third.uploaded_objects, third.decoded) == (1, 1)
    changed = [k for k in first.cache.mapping if first.cache.mapping[k] != third.cache.mapping[k]]
    assert changed == [samples[2].images[0]]

    # a training pod reads the objects through its own folder, each downloaded once (a local store is read in place)
    local, reader = localize(third.cache, tmp_path / "train-pod" / "media")
    assert reader.downloads == (4 if remote else 0)
    assert all(Path(p).is_file() for p in local.mapping.values())
    assert all(
        str(p).startswith(str(tmp_path / ("train-pod" if remote else "artifact-store"))) for p in local.mapping.values()
    )
    assert localize(third.cache, tmp_path / "train-pod" / "media")[1].downloads == 0
    assert load_cached_image(local.mapping[samples[2].images[0]]).getpixel((0, 0)) == (255, 0, 0)
    assert load_cached_image(local.mapping[samples[0].images[0]]).size[0] * 32 <= 32 * 32 + 32


def test_present_objects_are_named_from_the_dataset_digests_without_reading_the_sources(tmp_path):
    samples = _images(tmp_path / "src", 3)
    samples.append(replace(samples[0], index=3, max_pixels=16 * 16))  # the same file under a row's own settings
    settings = MediaSettings(max_pixels=32 * 32)
    root = str(tmp_path / "artifact-store" / "lmms-media")
    digests = {s.images[0]: media.file_digest(s.images[0]) for s in samples}
    counts: dict = {}
    first = preprocess_to_store(
        iter(samples), settings, ObjectStore(root), tmp_path / "pod1", workers=0, progress=False, digests=digests,
        counts=counts,
    )  # fmt: skip
    assert (first.uploaded_objects, first.decoded, len(first.cache.mapping)) == (4, 4, 4)
    assert counts == {"rows": 4, "rows_with_own_settings": 1}
    for s in samples[:3]:
        Path(s.images[0]).unlink()  # the sources are gone: a second run must not need them
    second = preprocess_to_store(
        samples, settings, ObjectStore(root), tmp_path / "pod2", workers=0, progress=False, digests=digests
    )
    assert (second.uploaded_objects, second.decoded, second.cache.hits) == (0, 0, 4)
    assert second.cache.mapping == first.cache.mapping


def test_read_through_cache_downloads_once_and_names_a_missing_object(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("memory://bucket/a/x.bin", b"hello")
    cache = ReadThroughCache(tmp_path / "rt", fs)
    p1 = cache.fetch("memory://bucket/a/x.bin")
    p2 = cache.fetch("memory://bucket/a/x.bin")
    assert p1 == p2 and p1.read_bytes() == b"hello" and cache.downloads == 1 and cache.bytes == 5
    with pytest.raises(StorageError, match="object not found: memory://bucket/a/missing.bin"):
        cache.fetch("memory://bucket/a/missing.bin")
    assert not list((tmp_path / "rt").rglob("*.part")), "a failed download leaves no partial file"


def _checkpoint(run: Path, step: int, complete: bool = True) -> Path:
    d = run / f"checkpoint-{step}"
    (d / "sub").mkdir(parents=True)
    (d / "adapter_model.safetensors").write_bytes(bytes([step]) * 64)
    (d / "sub" / "rng_state.pth").write_bytes(b"rng")
    if complete:
        (d / MARKER).write_text(json.dumps({"global_step": step}))
    return d


def test_checkpoint_mirror_pulls_the_newest_complete_and_never_a_partial_upload(tmp_path):
    remote = str(tmp_path / "artifact-store" / "lmms-checkpoints" / "runkey")
    pod1 = tmp_path / "pod1" / "run"
    upload_checkpoint(_checkpoint(pod1, 2), remote)
    upload_checkpoint(_checkpoint(pod1, 4), remote)
    # pod 1 dies while uploading checkpoint-6: its files are there, its marker is not
    partial = Path(remote) / "checkpoint-6"
    partial.mkdir()
    (partial / "adapter_model.safetensors").write_bytes(b"\x00" * 10)
    assert [(s, done) for s, _, done in remote_checkpoints(remote)] == [(2, True), (4, True), (6, False)]

    pod2 = tmp_path / "pod2" / "run"  # the retry: a fresh pod, an empty disk
    pulled = pull_latest(remote, pod2)
    assert pulled == pod2 / "checkpoint-4" and (pulled / MARKER).is_file()
    assert (pulled / "adapter_model.safetensors").read_bytes() == bytes([4]) * 64
    assert (pulled / "sub" / "rng_state.pth").read_bytes() == b"rng"
    assert [p.name for p in pod2.iterdir()] == ["checkpoint-4"], "no temporary folder left behind"
    assert pull_latest(remote, pod2) is None, "a local checkpoint as new as the remote one is not pulled again"

    drop_remote(remote, keep=1)
    assert [(s, done) for s, _, done in remote_checkpoints(remote)] == [(4, True), (6, False)]
    drop_remote(remote)
    assert remote_checkpoints(remote) == []
    assert pull_latest(remote, tmp_path / "pod3" / "run") is None
