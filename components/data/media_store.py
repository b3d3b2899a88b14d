"""The media cache as content-addressed objects in an object store (the active ZenML artifact store: a bucket on a
cloud stack, a local folder on the local stack; the same code path for both).

`preprocess_to_store` names every (source file, settings) pair by the media cache's own key (hash of the source
bytes + preprocessing settings + format version), decodes only those whose object is not in the store yet, and
uploads them: a second run uploads nothing, a changed source file uploads only itself. The returned MediaCache maps
each media key to its object URI; `localize` turns it back into local files through a read-through folder (the
objects keep their names there), so a training pod downloads each object once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from components.artifacts import MediaCache
from components.data.media_cache import MediaSettings, cache_key, media_key, run_jobs
from components.storage import ObjectStore, ReadThroughCache, is_uri


@dataclass
class StoreResult:
    cache: MediaCache
    uploaded_objects: int
    uploaded_bytes: int
    decoded: int
    seconds: float


def sample_jobs(samples: list, default: MediaSettings) -> dict[str, tuple[str, str, MediaSettings]]:
    """{media key: (source path, "image" | "video", settings)} of every distinct (file, row settings) of the samples,
    as media_cache.preprocess_samples builds them."""
    jobs: dict[str, tuple[str, str, MediaSettings]] = {}
    for s in samples:
        settings = default.for_row(s.max_frames, s.max_pixels)
        for kind, paths in (("image", s.images), ("video", s.videos)):
            for p in paths:
                job = jobs.setdefault(media_key(p, settings, default), (str(p), kind, settings))
                if job[1] != kind:
                    raise ValueError(f"{p} is used both as an image and as a video")
    return jobs


def object_name(path: str, kind: str, settings: MediaSettings) -> str:
    """The object a source file preprocessed under `settings` is stored as (the media cache's file name)."""
    return f"{cache_key(path, settings)}.{'png' if kind == 'image' else 'npz'}"


def preprocess_to_store(
    samples: list,
    default: MediaSettings,
    store: ObjectStore,
    staging: str | Path,
    workers: int = 2,
    progress: bool = True,
) -> StoreResult:
    """Preprocess what the store lacks (decoded into the local `staging` folder, then uploaded once); returns the
    MediaCache of object URIs and what was uploaded."""
    start = time.perf_counter()
    jobs = sample_jobs(samples, default)
    names = {key: object_name(path, kind, settings) for key, (path, kind, settings) in jobs.items()}
    present = store.names()
    missing = {key: job for key, job in jobs.items() if names[key] not in present}
    before = store.uploaded, store.uploaded_bytes
    if missing:
        local = run_jobs(missing, staging, workers, progress)
        for target in sorted(set(local.mapping.values())):
            store.put(target)
    mapping = {key: store.uri(names[key]) for key in jobs}
    hits = len(jobs) - len(missing)
    cache = MediaCache(store.root, mapping, default.__dict__, hits, len(missing))
    return StoreResult(
        cache,
        store.uploaded - before[0],
        store.uploaded_bytes - before[1],
        len(missing),
        time.perf_counter() - start,
    )


def localize(cache: MediaCache, local_dir: str | Path, fs=None) -> tuple[MediaCache, ReadThroughCache]:
    """The cache with every object URI replaced by a local copy under `local_dir` (downloaded once; objects keep
    their content-addressed names, so a folder already holding one is not downloaded again)."""
    local_dir = Path(local_dir)
    reader = ReadThroughCache(local_dir, fs)
    mapping = {}
    for key, uri in cache.mapping.items():
        if not is_uri(uri):
            mapping[key] = uri
            continue
        mapping[key] = str(reader.fetch(uri, local_dir / Path(uri).name))
    return MediaCache(str(local_dir), mapping, cache.settings, cache.hits, cache.misses), reader
