"""Materializers: checkpoints travel as safetensors directories, datasets as JSON with a content hash."""

from materializers.checkpoint import CheckpointMaterializer
from materializers.dataset import MediaCacheMaterializer, PreparedDatasetMaterializer

__all__ = ["CheckpointMaterializer", "MediaCacheMaterializer", "PreparedDatasetMaterializer"]
