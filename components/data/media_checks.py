"""Media file checks: each image or video a row names must resolve inside the allowed roots, be a regular file and
decode (Pillow, PyAV); images above the pixel limit are refused from their header, before decoding."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import av
from PIL import Image

from components.data.remote import StorageError, local_file
from components.data.report import Problem
from components.storage import is_uri


@contextmanager
def pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    # Image.open checks the header's size against MAX_IMAGE_PIXELS before decoding anything: a warning above it (an
    # error in _check_image), an error above twice it. Point that guard at our limit for the duration.
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _check_path(path: Path, roots: list[Path] | None, what: str) -> tuple[Path | None, Problem | None]:
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as e:  # symlink loop
        return None, ("bad_path", f"{what} {path}: cannot resolve ({e})")
    if roots is not None and not any(resolved.is_relative_to(r) for r in roots):
        allowed = ", ".join(map(str, roots))
        return None, ("outside_root", f"{what} {path} resolves to {resolved}, outside the allowed roots ({allowed})")
    if not resolved.exists():
        return None, ("missing_file", f"{what} file not found: {path}")
    if not resolved.is_file():
        return None, ("not_a_file", f"{what} {path} is not a regular file")
    return resolved, None


def _check_image(path: Path, max_pixels: int) -> Problem | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:  # rejects sizes above max_pixels, see pillow_pixel_limit
                im.verify()
            with Image.open(path) as im:  # verify() leaves the image unusable; reopen to decode the pixels
                im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        return "image_too_large", f"image {path} is above max_image_pixels={max_pixels}: {e}"
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files (OSError, SyntaxError, ...)
        return "corrupt_image", f"image {path} cannot be decoded ({type(e).__name__}: {e})"
    return None


def _check_video(path: Path) -> Problem | None:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                found = ", ".join(s.type for s in container.streams) or "none"
                return "no_video_stream", f"video {path} has no video stream (streams: {found})"
            stream = container.streams.video[0]
            if next(container.decode(stream), None) is None:
                return "empty_video", f"video {path} has no decodable frame"
            stream_seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0
            if not (stream.frames or container.duration or stream_seconds):
                return "corrupt_video", f"video {path}: neither frame count nor duration is readable"
    except Exception as e:  # noqa: BLE001 - PyAV/FFmpeg errors come in many types
        return "corrupt_video", f"video {path} cannot be decoded ({type(e).__name__}: {e})"
    return None


class MediaChecker:
    """Checks each file once, however many rows use it. An object-store URI is read through the local read-through
    folder (components/data/remote.py); a missing or unreadable object is a problem like a missing local file.

    `memo` holds what costs a decode, keyed by (kind, path): a local file's decode result once its path checks passed
    (the path checks, a resolve and a stat, run again in every process), an object's whole result. Validation fills it
    from the validation cache for files whose bytes it has seen (components/data/validate.py)."""

    def __init__(self, roots: list[Path | str] | None, max_image_pixels: int):
        self.roots, self.max_image_pixels = roots, max_image_pixels
        self.memo: dict[tuple[str, str], Problem | None] = {}
        self._paths: dict[tuple[str, str], tuple[Path | None, Problem | None]] = {}

    def _check_remote(self, media: Literal["image", "video"], uri: str) -> Problem | None:
        if self.roots is not None and not any(uri.startswith(str(r).rstrip("/") + "/") for r in self.roots):
            allowed = ", ".join(map(str, self.roots))
            return "outside_root", f"{media} {uri} is outside the allowed roots ({allowed})"
        try:
            local = local_file(uri)
        except StorageError as e:
            kind = "missing_file" if "not found" in str(e) else "unreadable_file"
            return kind, f"{media} {e}"
        problem = _check_image(local, self.max_image_pixels) if media == "image" else _check_video(local)
        return None if problem is None else (problem[0], problem[1].replace(str(local), uri))

    def media_facts(self, kind: str, path: str) -> dict | None:
        """What is known of this file without its path checks, as JSON, or None (see TokenCounter.media_facts)."""
        key = (kind, path)
        if key not in self.memo:
            return None
        problem = self.memo[key]
        return {"problem": list(problem) if problem is not None else None}

    def learn_media(self, kind: str, path: str, facts: dict) -> None:
        problem = facts["problem"]
        self.memo.setdefault((kind, path), tuple(problem) if problem is not None else None)

    def __call__(self, media: Literal["image", "video"], path: str) -> Problem | None:
        key = (media, path)
        if is_uri(path):
            if key not in self.memo:
                self.memo[key] = self._check_remote(media, path)
            return self.memo[key]
        if key not in self._paths:
            self._paths[key] = _check_path(Path(path), self.roots, media)
        resolved, problem = self._paths[key]
        if resolved is None:
            return problem
        if key not in self.memo:
            self.memo[key] = (
                _check_image(resolved, self.max_image_pixels) if media == "image" else _check_video(resolved)
            )
        return self.memo[key]
