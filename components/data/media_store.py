"""The media cache as content-addressed objects in an object store (the active ZenML artifact store: a bucket on a
cloud stack, a local folder on the local stack; the same code path for both).

`preprocess_to_store` names every (source file, settings) pair by the media cache's own key (hash of the source
bytes + preprocessing settings + format version; the source digest comes from the dataset's media digests, so naming
reads no file), decodes only those whose object is not in the store yet (in worker processes, media_cache.run_jobs),
and uploads them: a second run uploads nothing, a changed source file uploads only itself. The rows are read once, as
a stream (a lazily read ShardedRows stays lazy). The returned MediaCache maps each media key to its object URI;
`localize` turns it back into local files through a read-through folder (the objects keep their names there), so a
training pod downloads each object once."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from components.artifacts import MediaCache
from components.data import media
from components.data.media_cache import Job, MediaSettings, cache_name, digest_key, run_jobs, sample_jobs
from components.storage import ObjectStore, ReadThroughCache, is_uri


@dataclass
class StoreResult:
    cache: MediaCache
    uploaded_objects: int
    uploaded_bytes: int
    decoded: int
    seconds: float


def object_name(path: str, kind: str, settings: MediaSettings, digests: Mapping[str, str] | None = None) -> str:
    """The object a source file preprocessed under `settings` is stored as (the media cache's file name); the
    file's digest from `digests` when it is there, else read from the file."""
    digest = digests.get(path) if digests is not None else None
    return cache_name(digest_key(digest or media.file_digest(path), settings), kind)


def preprocess_to_store(
    samples: Iterable,
    default: MediaSettings,
    store: ObjectStore,
    staging: str | Path,
    workers: int = 2,
    progress: bool = True,
    digests: Mapping[str, str] | None = None,
    counts: dict | None = None,
) -> StoreResult:
    """Preprocess what the store lacks (decoded into the local `staging` folder, then uploaded once); returns the
    MediaCache of object URIs and what was uploaded. `digests`: the dataset's media digests (path -> sha256), so
    that present objects are named without reading their sources; `counts` as media_cache.sample_jobs."""
    start = time.perf_counter()
    present = store.names()
    mapping: dict[str, str] = {}
    missing: list[tuple[str, Job]] = []
    for key, job in sample_jobs(samples, default, counts):
        name = object_name(job[0], job[1], job[2], digests)
        if name in present:
            mapping[key] = store.uri(name)
        else:
            missing.append((key, job))
    hits = len(mapping)
    before = store.uploaded, store.uploaded_bytes
    if missing:
        local = run_jobs(missing, staging, workers, progress)
        for key, target in local.mapping.items():
            store.put(target)
            mapping[key] = store.uri(Path(target).name)
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
