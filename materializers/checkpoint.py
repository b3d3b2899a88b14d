"""A Checkpoint is stored as its directory of files (safetensors weights, processor, JSON); nothing is pickled."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from components.artifacts import Checkpoint

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle")


def _copy_tree(src: str, dst: str) -> None:
    fileio.makedirs(dst)
    for name in fileio.listdir(src):
        s, d = os.path.join(src, str(name)), os.path.join(dst, str(name))
        if fileio.isdir(s):
            _copy_tree(s, d)
        else:
            fileio.copy(s, d, overwrite=True)


class CheckpointMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (Checkpoint,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> Checkpoint:
        meta = json.loads(fileio.open(os.path.join(self.uri, "checkpoint.json")).read())
        files = os.path.join(self.uri, "files")
        if not os.path.isdir(files):  # remote artifact store: bring the files next to the step
            local = tempfile.mkdtemp(prefix="lmms-ckpt-")
            _copy_tree(files, local)
            files = local
        return Checkpoint(path=files, **meta)

    def save(self, data: Checkpoint) -> None:
        bad = [n for n in os.listdir(data.path) if n.endswith(PICKLE_SUFFIXES)]
        if bad:
            raise ValueError(f"refusing to store pickled files in a checkpoint artifact: {bad}")
        _copy_tree(data.path, os.path.join(self.uri, "files"))
        meta = {"is_adapter": data.is_adapter, "base_model": data.base_model, "family": data.family}
        with fileio.open(os.path.join(self.uri, "checkpoint.json"), "w") as f:
            f.write(json.dumps(meta))

    def compute_content_hash(self, data: Checkpoint) -> str:
        return data.content_hash()

    def extract_metadata(self, data: Checkpoint) -> dict[str, Any]:
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(data.path) for f in fs)
        return {"is_adapter": data.is_adapter, "family": data.family or "", "size_mb": round(size / 2**20, 2)}
