"""Plain data types that travel between pipeline steps (materialized by materializers/, no ZenML here), and the
record we write next to every checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar


@dataclass
class Sample:
    index: int
    id: str | None
    system_prompt: str | None
    turns: list[tuple[str, str]]  # (role, text) with role in {"user", "assistant"}
    images: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    # Per-row media overrides: a row's own "max_frames", or what validation shrank the row to (on_overlength: shrink).
    max_frames: int | None = None
    max_pixels: int | None = None

    @property
    def modality(self) -> str:
        if self.videos:
            return "video"
        if len(self.images) > 1:
            return "multi_image"
        return "image" if self.images else "text"


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
        """The rows and the media bytes, not where they are kept: each media path counts as its file's digest (and
        the report without the file and folders it names), so the same data read from a bucket or from a local
        folder has the same hash."""
        return hashlib.sha256(json.dumps(self.location_free(), sort_keys=True).encode()).hexdigest()

    def location_free(self) -> dict:
        """The JSON content with media paths replaced by their digests and no data file or folder names."""
        d = json.loads(self.to_json())
        for split in ("train", "eval"):
            for row in d[split]:
                for kind in ("images", "videos"):
                    row[kind] = [self.media_digests.get(p, p) for p in row[kind]]
        d["media_digests"] = sorted(self.media_digests.values())
        d["report"] = {
            split: {k: v for k, v in r.items() if k not in ("source", "image_folder", "video_folder")}
            if isinstance(r, dict)
            else r
            for split, r in d["report"].items()
        }
        return d

    @property
    def image_paths(self) -> list[str]:
        return sorted({p for s in self.train + self.eval for p in s.images})


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
        meta = CheckpointMeta.read(path)
        return cls(
            str(path),
            is_adapter=(Path(path) / "adapter_config.json").exists(),
            base_model=meta.base_model if meta else None,
            family=meta.family if meta else None,
        )


@dataclass
class CheckpointMeta:
    """`lmms_train.json`, written beside every checkpoint we produce (trained, merged, matrix adapters): what it came
    from and how to load it again (merge, inference and the pyfunc model read it)."""

    family: str
    base_model: str | None = None  # the model it was trained from (an adapter's base)
    is_adapter: bool = False
    trust_remote_code: bool = False
    revision: str | None = None
    merged_from: str | None = None
    world_size: int | None = None
    strategy: str | None = None
    global_step: int | None = None
    resumed_from: str | None = None

    FILE: ClassVar[str] = "lmms_train.json"

    def write(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / self.FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, directory: str | os.PathLike) -> CheckpointMeta | None:
        path = Path(directory) / cls.FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
