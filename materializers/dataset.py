"""PreparedDataset and MediaCache as JSON; the dataset's content hash covers the rows and the media bytes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from components.artifacts import MediaCache, PreparedDataset


class PreparedDatasetMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (PreparedDataset,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> PreparedDataset:
        with fileio.open(os.path.join(self.uri, "dataset.json")) as f:
            return PreparedDataset.from_json(f.read())

    def save(self, data: PreparedDataset) -> None:
        with fileio.open(os.path.join(self.uri, "dataset.json"), "w") as f:
            f.write(data.to_json())

    def compute_content_hash(self, data: PreparedDataset) -> str:
        return data.content_hash()

    def extract_metadata(self, data: PreparedDataset) -> dict[str, Any]:
        return {"train_rows": len(data.train), "eval_rows": len(data.eval), "quarantined": len(data.quarantine)}


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
