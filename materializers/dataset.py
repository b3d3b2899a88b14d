"""PreparedDataset as JSONL shards with a manifest (components/artifacts.py: write_dataset, read_dataset), its rows read
back lazily; MediaCache as JSON. Every file goes through zenml.io.fileio, so any artifact store works. The dataset's
content hash covers the rows and the media bytes, whatever the shard size."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from components.artifacts import SHARD_ROWS, MediaCache, PreparedDataset, read_dataset, write_dataset


class PreparedDatasetMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (PreparedDataset,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA
    SHARD_ROWS: ClassVar[int] = SHARD_ROWS

    def load(self, data_type: type[Any]) -> PreparedDataset:
        return read_dataset(self.uri, opener=fileio.open)

    def save(self, data: PreparedDataset) -> None:
        if not fileio.exists(self.uri):
            fileio.makedirs(self.uri)
        write_dataset(data, self.uri, opener=fileio.open, shard_rows=self.SHARD_ROWS)

    def compute_content_hash(self, data: PreparedDataset) -> str:
        return data.content_hash()

    def extract_metadata(self, data: PreparedDataset) -> dict[str, Any]:
        return {
            "train_rows": len(data.train),
            "eval_rows": len(data.eval),
            "quarantined": len(data.quarantine),
            "media_files": len(data.media_digests),
        }


class MediaCacheMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (MediaCache,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> MediaCache:
        with fileio.open(os.path.join(self.uri, "media_cache.json")) as f:
            return MediaCache(**json.loads(f.read()))

    def save(self, data: MediaCache) -> None:
        with fileio.open(os.path.join(self.uri, "media_cache.json"), "w") as f:
            f.write(json.dumps(asdict(data), sort_keys=True))

    def extract_metadata(self, data: MediaCache) -> dict[str, Any]:
        return {"files": len(data.mapping), "cache_hits": data.hits, "cache_misses": data.misses}
