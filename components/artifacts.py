"""Plain data types that travel between pipeline steps (materialized by materializers/, no ZenML here)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from components.data import Sample


@dataclass
class PreparedDataset:
    """Validated train / eval samples, with a digest of every media file they use (so the artifact's content hash
    follows the media bytes, not only the JSON)."""

    train: list[Sample]
    eval: list[Sample]
    media_digests: dict[str, str] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    quarantine: list[dict] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "train": [asdict(s) for s in self.train],
                "eval": [asdict(s) for s in self.eval],
                "media_digests": self.media_digests,
                "report": self.report,
                "quarantine": self.quarantine,
            },
            sort_keys=True,
            default=str,
        )

    @classmethod
    def from_json(cls, text: str) -> PreparedDataset:
        d = json.loads(text)

        def samples(rows):
            return [Sample(**{**r, "turns": [tuple(t) for t in r["turns"]]}) for r in rows]

        return cls(samples(d["train"]), samples(d["eval"]), d["media_digests"], d["report"], d["quarantine"])

    def content_hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @property
    def image_paths(self) -> list[str]:
        return sorted({p for s in self.train + self.eval for p in s.images})

    @property
    def video_paths(self) -> list[str]:
        return sorted({p for s in self.train + self.eval for p in s.videos})


@dataclass
class MediaCache:
    """Where each source media file's preprocessed copy lives (content-addressed files in `cache_dir`)."""

    cache_dir: str
    mapping: dict[str, str]
    settings: dict
    hits: int = 0
    misses: int = 0


@dataclass
class Checkpoint:
    """A directory with model (or LoRA adapter) weights as safetensors and the processor beside them."""

    path: str
    is_adapter: bool = False
    base_model: str | None = None
    family: str | None = None

    def content_hash(self) -> str:
        h = hashlib.sha256()
        root = Path(self.path)
        for p in sorted(root.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(root)).encode())
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
        return h.hexdigest()

    @classmethod
    def from_dir(cls, path: str | os.PathLike) -> Checkpoint:
        meta = Path(path) / "lmms_train.json"
        info = json.loads(meta.read_text()) if meta.exists() else {}
        return cls(
            str(path),
            is_adapter=(Path(path) / "adapter_config.json").exists(),
            base_model=info.get("base_model"),
            family=info.get("family"),
        )
