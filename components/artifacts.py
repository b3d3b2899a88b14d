"""Plain data types that travel between pipeline steps (materialized by materializers/, no ZenML here), and the
record we write next to every checkpoint."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, ClassVar

import numpy as np


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
    follows the media bytes, not only the rows).

    `train` and `eval` are sequences of Sample: plain lists when built in memory (`prepare_dataset`), ShardedRows
    when read back from shards (`read_dataset`, the materializer), which read rows lazily. `media_digests` maps a
    media path to its sha256 (a MediaDigests read back from shards loads its file on first use)."""

    train: Sequence[Sample]
    eval: Sequence[Sample]
    media_digests: Mapping[str, str] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    quarantine: list[dict] = field(default_factory=list)

    def content_hash(self) -> str:
        """A function of the rows, the media bytes, the report and the quarantine, not of how or where they are
        kept: the same data hashes the same in memory and read back from shards of any size (read back, the hashes
        come from the manifest: nothing is re-read), and read from a bucket or from a local folder (each media path
        counts as its file's digest; the report's data file and folders do not count)."""
        return _combined_hash(
            content_rows_hash(self.train, self.media_digests),
            content_rows_hash(self.eval, self.media_digests),
            media_content_hash(self.media_digests),
            self.report,
            self.quarantine,
        )

    def samples(self) -> Iterator[Sample]:
        """Every sample, train then eval, one at a time."""
        return itertools.chain(self.train, self.eval)

    @property
    def image_paths(self) -> list[str]:
        return sorted({p for s in self.samples() for p in s.images})


# ----------------------------------------------------------------------------------------- PreparedDataset as shards
#
# A folder (local, or any store reachable through `opener`, e.g. zenml.io.fileio.open) holding
#   manifest.json            format, rows per shard, per split: row count, row hash, content hash (content_line:
#                            media paths as digests), shards (file, index, rows); media file count, hash and content
#                            hash (digests only); report; quarantine; the dataset's content hash. Written last.
#   train-00000.jsonl ...    one sample per line (sample_line: canonical JSON), SHARD_ROWS lines per shard
#   train-00000.idx ...      the byte offset of each line (little-endian uint64), for random access to one row
#   media_digests.jsonl      [path, sha256] per line, sorted by path
# JSONL rather than Parquet: a Sample is nested (turns, the raw row of any shape), so Parquet would hold one JSON
# string per row anyway, and an uncompressed line can be read alone by its offset (training reads rows in shuffled
# order); the rows are small next to the media they name.

_SAMPLE_FIELDS = [f.name for f in fields(Sample)]
SHARD_ROWS = 10_000
MANIFEST = "manifest.json"
DIGESTS = "media_digests.jsonl"
FORMAT_VERSION = 1
SPLITS = ("train", "eval")
Opener = Callable[..., IO]  # opener(path, mode) -> a binary file object: builtin open, zenml.io.fileio.open


def _canonical(row: dict) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), default=str).encode()


def sample_dict(sample: Sample) -> dict:
    """The sample's fields as a dict (not copied: asdict's deep copy gives the same JSON, ten times slower)."""
    return {f: getattr(sample, f) for f in _SAMPLE_FIELDS}


def sample_line(sample: Sample) -> bytes:
    """A sample as one canonical JSON line (no newline): what a shard holds and what the row hash covers."""
    return _canonical(sample_dict(sample))


def sample_from_line(line: bytes | str) -> Sample:
    d = json.loads(line)
    return Sample(**{**d, "turns": [tuple(t) for t in d["turns"]]})


def _lines(rows: Iterable[Sample]) -> Iterator[bytes]:
    return rows.lines() if isinstance(rows, ShardedRows | LineRows) else map(sample_line, rows)


def _row_dicts(rows: Iterable[Sample]) -> Iterator[dict]:
    """Each row as the dict its line holds (read back: parsed from the line, not turned into a Sample)."""
    return map(json.loads, rows.lines()) if isinstance(rows, ShardedRows | LineRows) else map(sample_dict, rows)


def content_line(row: dict, digests: Mapping[str, str]) -> bytes:
    """A row (as sample_line's dict) with each media path replaced by its file's digest: what the content hash
    covers, the same whether the media were read from a bucket or from a local folder."""
    free = {**row, "images": [digests.get(p, p) for p in row["images"]]}
    free["videos"] = [digests.get(p, p) for p in row["videos"]]
    return _canonical(free)


def content_rows_hash(rows: Iterable[Sample], digests: Mapping[str, str]) -> str:
    """sha256 of a split's rows in order as content_line gives them; a ShardedRows knows its own (from the manifest,
    when read back with the digests it was written with)."""
    if isinstance(rows, ShardedRows) and rows.content_hash is not None and rows.media_hash == digests_hash(digests):
        return rows.content_hash
    h = hashlib.sha256()
    for row in _row_dicts(rows):
        h.update(content_line(row, digests) + b"\n")
    return h.hexdigest()


def media_content_hash(digests: Mapping[str, str]) -> str:
    """sha256 of the media digests alone (sorted), not of the paths they were read from."""
    if isinstance(digests, MediaDigests) and digests.content_hash is not None:
        return digests.content_hash
    return hashlib.sha256("\n".join(sorted(digests.values())).encode()).hexdigest()


def rows_hash(rows: Iterable[Sample]) -> str:
    """sha256 of a split's rows in order (each sample_line and a newline); a ShardedRows knows its own."""
    if isinstance(rows, ShardedRows):
        return rows.rows_hash
    h = hashlib.sha256()
    for line in _lines(rows):
        h.update(line + b"\n")
    return h.hexdigest()


def _digest_line(path: str, digest: str) -> bytes:
    return json.dumps([path, digest], separators=(",", ":")).encode()


def digests_hash(digests: Mapping[str, str]) -> str:
    if isinstance(digests, MediaDigests):
        return digests.digests_hash
    h = hashlib.sha256()
    for path in sorted(digests):
        h.update(_digest_line(path, digests[path]) + b"\n")
    return h.hexdigest()


LOCATION_KEYS = ("source", "image_folder", "video_folder")  # where a split's report says its data was read


def _location_free(report: dict) -> dict:
    return {
        split: {k: v for k, v in r.items() if k not in LOCATION_KEYS} if isinstance(r, dict) else r
        for split, r in report.items()
    }


def _combined_hash(train: str, eval_: str, media: str, report: dict, quarantine: list[dict]) -> str:
    """The content hash from the splits' content_rows_hash, the media_content_hash, the report (without the data
    file and folders it names) and the quarantine."""
    payload = {"format": FORMAT_VERSION, "train": train, "eval": eval_, "media": media}
    payload |= {"report": _location_free(report), "quarantine": quarantine}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class ShardedRows(Sequence[Sample]):
    """One split read lazily from its shards: `len()` from the manifest, iteration streams shard after shard, and
    `rows[i]` reads row i alone (by its byte offset) from its shard. Only the offsets of the last SHARD_CACHE shards
    and their open files are kept, so memory does not grow with the rows. Picklable (a DataLoader worker reopens the
    files); a forked process does not share the parent's open files."""

    SHARD_CACHE = 2

    def __init__(
        self,
        root: str,
        shards: list[dict],
        rows_hash: str,
        opener: Opener = open,
        content_hash: str | None = None,
        media_hash: str | None = None,
    ):
        """`content_hash`: the split's content_rows_hash under the media digests whose digests_hash is `media_hash`
        (both from the manifest; None: computed when asked)."""
        self.root, self.shards, self.rows_hash, self.opener = root, shards, rows_hash, opener
        self.content_hash, self.media_hash = content_hash, media_hash
        self._starts = list(itertools.accumulate((s["rows"] for s in shards), initial=0))
        self._reset()

    def _reset(self) -> None:
        self._open: OrderedDict[int, tuple[np.ndarray, IO]] = OrderedDict()
        self._pid = os.getpid()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_open", "_pid")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    def __len__(self) -> int:
        return self._starts[-1]

    def _path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _shard(self, k: int) -> tuple[np.ndarray, IO]:
        """Shard k's line offsets and an open file on it (least recently used shards closed)."""
        if self._pid != os.getpid():  # forked: the parent's files share their offsets with the parent
            self._reset()
        if k in self._open:
            self._open.move_to_end(k)
            return self._open[k]
        with self.opener(self._path(self.shards[k]["index"]), "rb") as f:
            offsets = np.frombuffer(f.read(), dtype="<u8")
        entry = self._open[k] = (offsets, self.opener(self._path(self.shards[k]["file"]), "rb"))
        while len(self._open) > self.SHARD_CACHE:
            self._open.popitem(last=False)[1][1].close()
        return entry

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range: the split has {n} rows")
        i %= n
        k = bisect.bisect_right(self._starts, i) - 1
        offsets, f = self._shard(k)
        j = i - self._starts[k]
        f.seek(int(offsets[j]))
        return sample_from_line(f.readline())

    def lines(self) -> Iterator[bytes]:
        """Every row's line, shard after shard, without parsing."""
        for shard in self.shards:
            with self.opener(self._path(shard["file"]), "rb") as f:
                for line in f:
                    yield line.rstrip(b"\n")

    def __iter__(self) -> Iterator[Sample]:
        return map(sample_from_line, self.lines())

    def __eq__(self, other) -> bool:
        if isinstance(other, ShardedRows) and other.rows_hash == self.rows_hash:
            return True
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # a sequence, mutable in principle, like a list

    def __repr__(self) -> str:
        return f"ShardedRows({self.root!r}, rows={len(self)}, shards={len(self.shards)})"


class LineRows(Sequence[Sample]):
    """One split held as its rows' lines (sample_line) in memory, each decoded when read: what validation gives when
    its rows come from its cache, without building every Sample. With each line, its row index and the media paths
    it names (known without decoding)."""

    def __init__(self, lines: Iterable[bytes], indices: Iterable[int] = (), media: Iterable[list[str]] = ()):
        self._lines, self.indices, self.row_media = list(lines), list(indices), list(media)

    @classmethod
    def of(cls, samples: Iterable[Sample]) -> LineRows:
        samples = list(samples)
        return cls(map(sample_line, samples), [s.index for s in samples], [s.images + s.videos for s in samples])

    @property
    def media(self) -> list[str]:
        """The media paths the rows name, each once, in order."""
        return list(dict.fromkeys(p for paths in self.row_media for p in paths))

    def keep(self, indices: set[int]) -> LineRows:
        """The rows whose index is in `indices`."""
        picked = [k for k, i in enumerate(self.indices) if i in indices]
        return LineRows([self._lines[k] for k in picked], [self.indices[k] for k in picked],
                        [self.row_media[k] for k in picked])  # fmt: skip

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [sample_from_line(line) for line in self._lines[i]]
        return sample_from_line(self._lines[i])

    def lines(self) -> Iterator[bytes]:
        return iter(self._lines)

    def __iter__(self) -> Iterator[Sample]:
        return map(sample_from_line, self._lines)

    def __eq__(self, other) -> bool:
        if isinstance(other, LineRows):
            return other._lines == self._lines
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None

    def __repr__(self) -> str:
        return f"LineRows(rows={len(self)})"


class MediaDigests(Mapping[str, str]):
    """The media digests read back from shards: `len()` from the manifest, the file loaded on first lookup."""

    def __init__(
        self, path: str, count: int, digests_hash: str, opener: Opener = open, content_hash: str | None = None
    ):
        self.path, self.count, self.digests_hash, self.opener = path, count, digests_hash, opener
        self.content_hash = content_hash  # media_content_hash, from the manifest
        self._loaded: dict[str, str] | None = None

    def _data(self) -> dict[str, str]:
        if self._loaded is None:
            with self.opener(self.path, "rb") as f:
                self._loaded = dict(json.loads(line) for line in f)
        return self._loaded

    def __getitem__(self, path: str) -> str:
        return self._data()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return self.count


class _ShardWriter:
    """Writes one split's lines into shards of `shard_rows` lines, each with its offsets index."""

    def __init__(self, root: str, split: str, opener: Opener, shard_rows: int):
        self.root, self.split, self.opener, self.shard_rows = root, split, opener, shard_rows
        self.shards: list[dict] = []
        self.hash = hashlib.sha256()
        self.content = hashlib.sha256()  # content_rows_hash
        self.rows = 0
        self._file: IO | None = None
        self._offsets: list[int] = []
        self._pos = 0

    def add(self, line: bytes, content: bytes) -> None:
        """One row: its sample_line and its content_line."""
        self.content.update(content + b"\n")
        if self._file is None:
            name = f"{self.split}-{len(self.shards):05d}"
            self.shards.append({"file": f"{name}.jsonl", "index": f"{name}.idx", "rows": 0})
            self._file = self.opener(os.path.join(self.root, self.shards[-1]["file"]), "wb")
            self._offsets, self._pos = [], 0
        record = line + b"\n"
        self._file.write(record)
        self.hash.update(record)
        self._offsets.append(self._pos)
        self._pos += len(record)
        self.rows += 1
        self.shards[-1]["rows"] += 1
        if len(self._offsets) == self.shard_rows:
            self.close()

    def close(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        with self.opener(os.path.join(self.root, self.shards[-1]["index"]), "wb") as f:
            f.write(np.asarray(self._offsets, dtype="<u8").tobytes())

    def manifest(self) -> dict:
        return {
            "rows": self.rows,
            "hash": self.hash.hexdigest(),
            "content_hash": self.content.hexdigest(),
            "shards": self.shards,
        }


def write_dataset(
    dataset: PreparedDataset, root: str | os.PathLike, opener: Opener = open, shard_rows: int = SHARD_ROWS
) -> dict:
    """Write `dataset` as shards under the existing folder `root` (through `opener`), one row at a time: memory does
    not grow with the rows. The manifest is written last; returns it."""
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be at least 1, got {shard_rows}")
    root = str(root)
    splits = {}
    digests = dataset.media_digests
    for split in SPLITS:
        writer = _ShardWriter(root, split, opener, shard_rows)
        rows = getattr(dataset, split)
        try:
            if isinstance(rows, ShardedRows | LineRows):  # lines as they are, parsed for their content line
                for line in rows.lines():
                    writer.add(line, content_line(json.loads(line), digests))
            else:
                for sample in rows:
                    row = sample_dict(sample)
                    writer.add(_canonical(row), content_line(row, digests))
        finally:
            writer.close()
        splits[split] = writer.manifest()
    media = hashlib.sha256()
    with opener(os.path.join(root, DIGESTS), "wb") as f:
        for path in sorted(digests):
            record = _digest_line(path, digests[path]) + b"\n"
            f.write(record)
            media.update(record)
    manifest = {
        "format": FORMAT_VERSION,
        "shard_rows": shard_rows,
        "splits": splits,
        "media_digests": {
            "file": DIGESTS,
            "count": len(digests),
            "hash": media.hexdigest(),
            "content_hash": media_content_hash(digests),
        },
        "report": dataset.report,
        "quarantine": dataset.quarantine,
    }
    hashes = [splits[s]["content_hash"] for s in SPLITS]
    manifest["content_hash"] = _combined_hash(
        *hashes, manifest["media_digests"]["content_hash"], dataset.report, dataset.quarantine
    )
    with opener(os.path.join(root, MANIFEST), "wb") as f:
        f.write(json.dumps(manifest, sort_keys=True, indent=1, default=str).encode())
    return manifest


def read_dataset(root: str | os.PathLike, opener: Opener = open) -> PreparedDataset:
    """The dataset under `root` (written by write_dataset), its rows read lazily through `opener`."""
    root = str(root)
    path = os.path.join(root, MANIFEST)
    try:
        with opener(path, "rb") as f:
            manifest = json.loads(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no dataset manifest (not written by write_dataset)") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: dataset format {manifest.get('format')!r}, this version reads {FORMAT_VERSION}")
    d = manifest["media_digests"]
    splits = {
        s: ShardedRows(root, m["shards"], m["hash"], opener, m.get("content_hash"), d["hash"])
        for s, m in ((s, manifest["splits"][s]) for s in SPLITS)
    }
    digests = MediaDigests(os.path.join(root, d["file"]), d["count"], d["hash"], opener, d.get("content_hash"))
    return PreparedDataset(splits["train"], splits["eval"], digests, manifest["report"], manifest["quarantine"])


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
