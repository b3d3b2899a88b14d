"""Decoding of images and videos into RGB pixels (Pillow and PyAV only)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import av
import numpy as np
from PIL import ExifTags, Image, ImageOps

from components.data.remote import local_file

StrPath = str | Path


class MediaError(ValueError):
    """A media file that cannot be used: carries the path and the reason."""

    def __init__(self, path: StrPath, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def target_size(
    width: int, height: int, min_pixels: int | None = None, max_pixels: int | None = None
) -> tuple[int, int]:
    """The aspect-preserving size whose area lies within [min_pixels, max_pixels]; unchanged if already inside."""
    if min_pixels and max_pixels and min_pixels > max_pixels:
        raise ValueError(f"min_pixels ({min_pixels}) > max_pixels ({max_pixels})")
    area = width * height
    if max_pixels and area > max_pixels:
        scale, rnd = math.sqrt(max_pixels / area), math.floor
    elif min_pixels and area < min_pixels:
        scale, rnd = math.sqrt(min_pixels / area), math.ceil
    else:
        return width, height
    w, h = max(1, rnd(width * scale)), max(1, rnd(height * scale))
    if max_pixels and w * h > max_pixels:  # extreme aspect ratios, where a side was clamped to 1 px
        w, h = (max(1, max_pixels // h), h) if w >= h else (w, max(1, max_pixels // w))
    return w, h


def resize_to(image: Image.Image, min_pixels: int | None = None, max_pixels: int | None = None) -> Image.Image:
    size = target_size(image.width, image.height, min_pixels, max_pixels)
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB with transparency composited on white and high-bit-depth grayscale scaled (not clipped) to 8 bits."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N and 32-bit I, all holding 16-bit samples
        pixels = np.asarray(image).astype(np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        return Image.fromarray(np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8), "L").convert("RGB")
    if "A" in mode or "a" in mode or "transparency" in image.info:
        return _on_white(image)
    return image.convert("RGB")


def load_image(path: StrPath, min_pixels: int | None = None, max_pixels: int | None = None) -> Image.Image:
    """Decode an image upright (EXIF orientation), as RGB, resized into [min_pixels, max_pixels] when given."""
    try:
        with Image.open(local_file(path)) as source:  # a URI: read through $LMMS_CACHE/remote
            image = to_rgb(ImageOps.exif_transpose(source))
            image.load()
    except (OSError, Image.DecompressionBombError, SyntaxError) as e:  # SyntaxError: some broken-header plugins
        raise MediaError(path, f"cannot decode image: {e}") from None
    return resize_to(image, min_pixels, max_pixels)


def sample_indices(total_frames: int, num_frames: int, fps: float | None, max_fps: float | None) -> list[int]:
    """Up to num_frames frame indices, one at the centre of each of n equal bins over [0, total_frames).

    With both fps and max_fps known, n is further capped at max(1, floor(duration * max_fps)).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if total_frames <= 0:
        return []
    n = min(num_frames, total_frames)
    if fps and max_fps:
        n = min(n, max(1, math.floor(total_frames / fps * max_fps)))
    return [(2 * i + 1) * total_frames // (2 * n) for i in range(n)]


def _video_stream(container: av.container.InputContainer, path: StrPath) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise MediaError(path, "no video stream")
    return container.streams.video[0]


def _stream_info(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> dict:
    """fps and duration from the headers, and the frame count: the header's, else counted by demuxing."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else None
    total = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = total / fps if fps else None
    return {"fps": fps, "duration": duration, "total_frames": total}


# The display matrix's counter-clockwise rotation -> the transpose that shows the frame upright.
_ROTATIONS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    -180: Image.Transpose.ROTATE_180,
    -90: Image.Transpose.ROTATE_270,
}


def _upright(frame: av.VideoFrame) -> Image.Image:
    turn = _ROTATIONS.get(round(frame.rotation or 0))
    return frame.to_image().transpose(turn) if turn is not None else frame.to_image()


def _decode_frames(path: StrPath, wanted: list[int], max_pixels: int | None) -> tuple[dict[int, np.ndarray], int]:
    """Decode sequentially once, keeping the wanted frames and stopping after the last one.

    Returns the kept frames and how many frames were decoded (the true count when the stream ended early).
    """
    keep, last, frames, count = set(wanted), max(wanted), {}, 0
    with av.open(str(local_file(path))) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        for count, frame in enumerate(container.decode(stream), 1):
            if count - 1 in keep:
                frames[count - 1] = np.asarray(resize_to(_upright(frame), max_pixels=max_pixels))
            if count - 1 == last:
                break
    return frames, count


def load_video(
    path: StrPath, num_frames: int = 8, max_fps: float | None = None, max_pixels: int | None = None
) -> tuple[np.ndarray, dict]:
    """Uniformly sampled frames as uint8 (T, H, W, 3) RGB, and {"fps", "duration", "total_frames", "indices"}."""
    try:
        with av.open(str(local_file(path))) as container:  # a URI: read through $LMMS_CACHE/remote
            info = _stream_info(container, _video_stream(container, path))
        indices = sample_indices(info["total_frames"], num_frames, info["fps"], max_fps)
        frames, decoded = _decode_frames(path, indices, max_pixels) if indices else ({}, 0)
        if indices and len(frames) < len(indices):  # the header over-counted: resample over the real frames
            info["total_frames"] = decoded
            indices = sample_indices(decoded, num_frames, info["fps"], max_fps)
            frames, decoded = _decode_frames(path, indices, max_pixels) if indices else ({}, 0)
    except (av.FFmpegError, OSError) as e:
        raise MediaError(path, f"cannot decode video: {e}") from None
    if not indices or len(frames) < len(indices):
        raise MediaError(path, "no decodable frames")
    return np.stack([frames[i] for i in indices]), {**info, "indices": indices}


def probe_video(path: StrPath) -> dict:
    """{"duration", "fps", "total_frames", "width", "height"} without decoding (the count may need a demux).

    width and height are the coded size, before any display rotation that load_video applies.
    """
    try:
        with av.open(str(local_file(path))) as container:
            stream = _video_stream(container, path)
            info = _stream_info(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
    except (av.FFmpegError, OSError) as e:
        raise MediaError(path, f"cannot read video: {e}") from None
    if not info["total_frames"]:
        raise MediaError(path, "no frames")
    return {**info, "width": width, "height": height}


_POST_IDAT_METADATA = (b"eXIf", b"iTXt", b"tEXt", b"zTXt")


def _png_metadata_after_pixels(path: StrPath) -> bool:
    """Whether a PNG holds a metadata chunk (EXIF, text/XMP) after its image data, which Pillow reads only when it
    decodes (and which may then carry an orientation). Reads the chunk headers only."""
    with open(path, "rb") as f:
        f.seek(8)  # the signature
        seen_pixels = False
        while header := f.read(8):
            if len(header) < 8:
                return True  # truncated: let the decoding path decide
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"IDAT":
                seen_pixels = True
            elif kind == b"IEND":
                return False
            elif seen_pixels and kind in _POST_IDAT_METADATA:
                return True
            f.seek(length + 4, 1)  # the data and its CRC
    return True


def upright_size(path: StrPath) -> tuple[int, int]:
    """(width, height) of an image as load_image shows it (EXIF orientation applied), from the file's header without
    decoding the pixels where the format allows (a PNG with metadata after its pixels is decoded, as load_image would
    read that metadata too)."""
    try:
        with Image.open(path) as im:
            if im.format == "PNG" and "exif" not in im.info and _png_metadata_after_pixels(path):
                im.load()
            width, height = im.size
            orientation = (
                im.getexif().get(ExifTags.Base.Orientation, 1)
                if im.format != "PNG" or "exif" in im.info
                else _xmp_orientation(im)
            )
    except (OSError, Image.DecompressionBombError, SyntaxError) as e:
        raise MediaError(path, f"cannot read image: {e}") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _xmp_orientation(im: Image.Image) -> int:
    """A PNG's orientation when it has no EXIF chunk: Pillow's getexif() reads it from the XMP text, if any."""
    if not any(k in im.info for k in ("xmp", "XML:com.adobe.xmp")):
        return 1
    return im.getexif().get(ExifTags.Base.Orientation, 1)


def file_digest(path: StrPath, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(local_file(path), "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
