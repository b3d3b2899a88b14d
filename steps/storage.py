"""The active stack's artifact store as an object store for the library (components/storage.py): its own filesystem
(an S3 / GCS / Azure store's is configured from its secret or service connector; a local store is a folder), so the
steps never handle a credential. Under it: `lmms-media/` (the content-addressed media cache, shared by every run) and
`lmms-checkpoints/<run key>/` (complete training checkpoints, for a retry in a fresh pod)."""

from __future__ import annotations

from pathlib import Path

from zenml import log_metadata
from zenml.client import Client

from components.artifacts import MediaCache
from components.config import cache_root
from components.data.media_store import localize
from components.storage import ObjectStore, join

MEDIA_PREFIX = "lmms-media"
CHECKPOINT_PREFIX = "lmms-checkpoints"


def artifact_store_fs():
    """(fsspec filesystem or None for a local folder, root path or URI) of the active artifact store."""
    store = Client().active_stack.artifact_store
    return getattr(store, "filesystem", None), str(store.path)


def media_store() -> ObjectStore:
    fs, root = artifact_store_fs()
    return ObjectStore(join(root, MEDIA_PREFIX), fs)


def checkpoint_root(run_key: str) -> tuple[object, str]:
    """(filesystem, URI) under which a run's complete checkpoints are mirrored."""
    fs, root = artifact_store_fs()
    return fs, join(root, CHECKPOINT_PREFIX, run_key)


def local_media(cache: MediaCache) -> MediaCache:
    """The media cache read through `$LMMS_CACHE/media`: each object downloaded at most once into this pod."""
    fs, _ = artifact_store_fs()
    local, reader = localize(cache, Path(cache_root()) / "media", fs)
    log_metadata(metadata={"media_downloaded_objects": reader.downloads, "media_downloaded_bytes": reader.bytes})
    return local
