"""Content-addressed cache of decoded, resized media: images as PNG, videos as NPZ (frames + metadata).

A cache file is named by sha256(source bytes digest + settings), so an edited source or new settings is a miss, and
an unchanged one is reused without decoding. Files are written to a temp name and renamed, so readers (or several
ranks preprocessing the same folder) never see a partial file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image
from tqdm import tqdm

from components.data import media
from components.data.forking import reset_signals

FORMAT_VERSION = 1  # bump when decoding changes, to invalidate old caches
POOL_MIN_JOBS = 16  # fewer distinct files are done in this process: starting worker processes costs more
CHUNK_JOBS = 8  # files per task sent to a worker process
IN_FLIGHT_PER_WORKER = 4  # tasks queued per worker: the job stream is read only this far ahead


@dataclass(frozen=True)
class MediaSettings:
    min_pixels: int | None = None
    max_pixels: int | None = None
    num_frames: int = 8
    max_fps: float | None = None

    def key(self) -> str:
        fields = asdict(self)
        if self.max_fps is not None:
            fields["max_fps"] = float(self.max_fps)  # 2 and 2.0 are the same setting
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_config(cls, data_cfg) -> MediaSettings:
        """The run's default settings (a config.DataConfig)."""
        return cls(data_cfg.min_pixels, data_cfg.max_pixels, data_cfg.num_frames, data_cfg.video_fps)

    def for_row(self, max_frames: int | None = None, max_pixels: int | None = None) -> MediaSettings:
        """These settings under a row's overrides: at most `max_frames` frames and `max_pixels` pixels."""
        settings = self
        if max_frames is not None:
            settings = replace(settings, num_frames=max_frames)
        if max_pixels is not None:
            cap = min(max_pixels, settings.max_pixels or max_pixels)
            low = settings.min_pixels if settings.min_pixels is None else min(settings.min_pixels, cap)
            settings = replace(settings, max_pixels=cap, min_pixels=low)
        return settings


def media_key(path: str, settings: MediaSettings, default: MediaSettings) -> str:
    """How a file preprocessed with `settings` is looked up in a cache mapping: its path under the run's defaults,
    else its path and the settings."""
    return str(path) if settings == default else f"{path}#{settings.key()}"


@dataclass
class CacheResult:
    mapping: dict[str, str]  # media key (see media_key) -> cache file path
    hits: int
    misses: int
    seconds: float


Job = tuple[str, str, MediaSettings]  # (source path, "image" | "video", settings)


def digest_key(digest: str, settings: MediaSettings) -> str:
    """The cache key of a source file whose bytes have sha256 `digest`, preprocessed under `settings`."""
    payload = f"{digest}\n{settings.key()}\n{FORMAT_VERSION}"
    return hashlib.sha256(payload.encode()).hexdigest()


def cache_key(path: str | Path, settings: MediaSettings) -> str:
    return digest_key(media.file_digest(path), settings)


def cache_name(key: str, kind: str) -> str:
    """The cache file (or object) name of a cache key: PNG for an image, NPZ for a video."""
    return f"{key}.{'png' if kind == 'image' else 'npz'}"


def _write_atomic(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_image(path: str, target: Path, settings: MediaSettings) -> None:
    image = media.load_image(path, settings.min_pixels, settings.max_pixels)
    _write_atomic(target, lambda f: image.save(f, format="PNG", compress_level=1))


def _save_video(path: str, target: Path, settings: MediaSettings) -> None:
    frames, meta = media.load_video(path, settings.num_frames, settings.max_fps, settings.max_pixels)
    _write_atomic(target, lambda f: np.savez(f, frames=frames, meta=np.array(json.dumps(meta))))


def _cache_one(path: str, kind: str, settings: MediaSettings, cache_dir: Path) -> tuple[str, bool]:
    """(cache file, whether it was a hit)."""
    target = cache_dir / cache_name(cache_key(path, settings), kind)
    if target.exists():
        return str(target), True
    (_save_image if kind == "image" else _save_video)(path, target, settings)
    return str(target), False


def preprocess(
    paths_images: list[str],
    paths_videos: list[str],
    settings: MediaSettings,
    cache_dir: str | Path,
    workers: int = 2,
    progress: bool = True,
) -> CacheResult:
    """Decode and resize every distinct file once into cache_dir (workers=0: in this process); keys are the paths.

    Raises media.MediaError for the first file that cannot be decoded.
    """
    jobs = {str(p): (str(p), "image", settings) for p in paths_images}
    for p in map(str, paths_videos):
        if jobs.setdefault(p, (p, "video", settings))[1] != "video":
            raise ValueError(f"{p} is listed both as an image and as a video")
    return run_jobs(jobs.items(), cache_dir, workers, progress)


def sample_jobs(samples: Iterable, default: MediaSettings, counts: dict | None = None) -> Iterator[tuple[str, Job]]:
    """(key, job) for every distinct (file, settings) of the samples (data.Sample), each row under its own overrides
    (`max_frames`, `max_pixels`); keys are media_key(path, row settings, default). Streams: only the keys seen are
    kept. `counts` (if given) gets `rows` and `rows_with_own_settings`."""
    seen: dict[str, str] = {}  # key -> kind
    rows = own = 0
    for s in samples:
        rows += 1
        own += bool(s.max_frames or s.max_pixels)
        settings = default.for_row(s.max_frames, s.max_pixels)
        for kind, paths in (("image", s.images), ("video", s.videos)):
            for p in paths:
                key = media_key(p, settings, default)
                if key in seen:
                    if seen[key] != kind:
                        raise ValueError(f"{p} is used both as an image and as a video")
                    continue
                seen[key] = kind
                yield key, (str(p), kind, settings)
    if counts is not None:
        counts.update(rows=rows, rows_with_own_settings=own)


def preprocess_samples(
    samples: Iterable,
    default: MediaSettings,
    cache_dir: str | Path,
    workers: int = 2,
    progress: bool = True,
    counts: dict | None = None,
) -> CacheResult:
    """Every distinct (file, settings) of the samples decoded once into cache_dir (see sample_jobs), in `workers`
    processes (workers=0: in this process). The samples are read once, as a stream (a lazily read ShardedRows stays
    lazy); memory grows with the distinct files, not with the rows.

    Raises media.MediaError for a file that cannot be decoded (the first one met, in worker processes any one)."""
    return run_jobs(sample_jobs(samples, default, counts), cache_dir, workers, progress)


def _cache_chunk(chunk: list[tuple[str, Job]], cache_dir: str) -> tuple[list[tuple[str, str, bool]], tuple | None]:
    """A worker's share: (key, cache file, hit) per job, and the (path, reason) of a file that cannot be decoded (a
    MediaError does not survive pickling: the parent raises it again)."""
    done = []
    for key, (path, kind, settings) in chunk:
        try:
            done.append((key, *_cache_one(path, kind, settings, Path(cache_dir))))
        except media.MediaError as e:
            return done, (e.path, e.reason)
    return done, None


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _pool(workers: int) -> ProcessPoolExecutor:
    """Forked worker processes, as torch's DataLoader forks its workers: they start at once with this module loaded.
    A fork server or spawned workers would run the main module again in every worker (measured: ~1 s a call from a
    script, several seconds under the zenml CLI), which costs more than the decoding of a small dataset. The workers
    only decode and write files; they print nothing and touch no state of the parent's threads."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=reset_signals)


def run_jobs(
    jobs: Iterable[tuple[str, Job]],
    cache_dir: str | Path,
    workers: int = 2,
    progress: bool = True,
) -> CacheResult:
    """(key, (source path, "image" | "video", settings)) pairs -> cache files, decoding only the misses, in `workers`
    processes (workers=0, or fewer than POOL_MIN_JOBS jobs: in this process). Keys must be distinct. Jobs are consumed
    as a stream, with at most IN_FLIGHT_PER_WORKER chunks per worker in flight."""
    start = time.perf_counter()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = iter(jobs)
    head = list(itertools.islice(jobs, POOL_MIN_JOBS))
    stream = itertools.chain(head, jobs)
    mapping: dict[str, str] = {}
    hits = 0
    with tqdm(desc="preprocess media", unit="file", disable=not progress) as bar:

        def collect(done: list[tuple[str, str, bool]], error: tuple | None) -> None:
            nonlocal hits
            for key, target, hit in done:
                mapping[key] = target
                hits += hit
            bar.update(len(done))
            bar.set_postfix(hits=hits, misses=len(mapping) - hits, refresh=False)
            if error is not None:
                raise media.MediaError(*error)

        if workers <= 0 or len(head) < POOL_MIN_JOBS:
            for chunk in _chunks(stream, CHUNK_JOBS):
                collect(*_cache_chunk(chunk, str(cache_dir)))
        else:
            with _pool(workers) as pool:
                pending: set = set()
                try:
                    for chunk in _chunks(stream, CHUNK_JOBS):
                        pending.add(pool.submit(_cache_chunk, chunk, str(cache_dir)))
                        if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                            done, pending = wait(pending, return_when=FIRST_COMPLETED)
                            for f in done:
                                collect(*f.result())
                    for f in as_completed(pending):
                        collect(*f.result())
                except BaseException:
                    for f in pending:
                        f.cancel()
                    raise
    return CacheResult(mapping, hits, len(mapping) - hits, time.perf_counter() - start)


def load_cached_image(path: str | Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def load_cached_video(path: str | Path) -> tuple[np.ndarray, dict]:
    with np.load(path) as data:
        return data["frames"], json.loads(data["meta"].item())
