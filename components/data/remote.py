"""Data where users keep it: dataset files and media named by object-store URIs (`s3://`, `gs://`, `az://`) are read
through one read-through folder per process (`$LMMS_CACHE/remote`), so every reader (validation, digests, token
counts, preprocessing) opens a local file and each object is downloaded once. Local paths pass through untouched.

Credentials come from the environment (the cloud SDKs' own variables, instance or workload identity), never from a
config; errors name the bucket or the object, never a credential."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from components.config import cache_root
from components.storage import ReadThroughCache, StorageError, check_bucket, is_uri

__all__ = ["StorageError", "check_data_buckets", "local_file"]


@cache
def _reader(root: str) -> ReadThroughCache:
    return ReadThroughCache(Path(root))


def local_file(path: str | os.PathLike) -> Path:
    """A local file with the bytes of `path` (a URI is downloaded once into `$LMMS_CACHE/remote`); raises
    StorageError naming the object (missing) or the bucket (refused credentials)."""
    if not is_uri(path):
        return Path(path)
    return _reader(str(cache_root() / "remote")).fetch(str(path))


def check_data_buckets(*uris: str | None) -> None:
    """Fail first, naming the bucket, when a configured data location's bucket refuses this environment's
    credentials (before any row is read, so nothing is validated or trained)."""
    for uri in dict.fromkeys(u for u in uris if is_uri(u)):
        check_bucket(str(uri))
