"""Content-addressed cache of decoded, resized media: images as PNG, videos as NPZ (frames + metadata).

A cache file is named by sha256(source bytes digest + settings), so an edited source or new settings is a miss, and
an unchanged one is reused without decoding. Files are written to a temp name and renamed, so readers (or several
ranks preprocessing the same folder) never see a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image
from tqdm import tqdm

from components import media

FORMAT_VERSION = 1  # bump when decoding changes, to invalidate old caches


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


@dataclass
class CacheResult:
    mapping: dict[str, str]  # source path -> cache file path
    hits: int
    misses: int
    seconds: float


def cache_key(path: str | Path, settings: MediaSettings) -> str:
    payload = f"{media.file_digest(path)}\n{settings.key()}\n{FORMAT_VERSION}"
    return hashlib.sha256(payload.encode()).hexdigest()


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
    target = cache_dir / f"{cache_key(path, settings)}.{'png' if kind == 'image' else 'npz'}"
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
    """Decode and resize every distinct file once into cache_dir (workers=0: in this thread).

    Raises media.MediaError for the first file that cannot be decoded.
    """
    start = time.perf_counter()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = {str(p): "image" for p in paths_images}
    for p in map(str, paths_videos):
        if jobs.setdefault(p, "video") != "video":
            raise ValueError(f"{p} is listed both as an image and as a video")

    def run(item: tuple[str, str]) -> tuple[str, str, bool]:
        return item[0], *_cache_one(item[0], item[1], settings, cache_dir)

    mapping: dict[str, str] = {}
    hits = 0
    with tqdm(total=len(jobs), desc="preprocess media", disable=not progress) as bar:
        pool = ThreadPoolExecutor(workers) if workers > 0 else None
        try:
            for source, target, hit in pool.map(run, jobs.items()) if pool else map(run, jobs.items()):
                mapping[source] = target
                hits += hit
                bar.update()
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
    return CacheResult(mapping, hits, len(jobs) - hits, time.perf_counter() - start)


def load_cached_image(path: str | Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def load_cached_video(path: str | Path) -> tuple[np.ndarray, dict]:
    with np.load(path) as data:
        return data["frames"], json.loads(data["meta"].item())
