from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from components.data import media
from components.data.media import MediaError, load_image, load_video, probe_video, sample_indices, target_size
from components.data.media_cache import MediaSettings, load_cached_image, load_cached_video, preprocess

SIDE = 48


def square_frames(n: int, direction: str = "right", size: int = 8) -> list[np.ndarray]:
    """A white square moving steadily across a black frame."""
    frames = []
    for i in range(n):
        x = round(2 + (SIDE - size - 4) * i / (n - 1))
        if direction == "left":
            x = SIDE - size - x
        frame = np.zeros((SIDE, SIDE, 3), np.uint8)
        frame[20 : 20 + size, x : x + size] = 255
        frames.append(frame)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: int = 8, codec: str = "mpeg4", rotation: int = 0) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def centroid_x(frame: np.ndarray) -> float:
    return float(np.nonzero(frame[..., 0] > 128)[1].mean())


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(image.getpixel(xy))


# --- images ---


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # stored: red left half, blue right half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "rot.jpg")
    assert out.size == (20, 40) and out.mode == "RGB"
    top, bottom = np.asarray(out)[5, 10], np.asarray(out)[35, 10]
    assert top[0] > 200 and top[2] < 60  # the stored left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_cmyk_becomes_rgb(tmp_path):
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.tif")
    out = load_image(tmp_path / "c.tif")
    assert out.mode == "RGB" and pixel(out, (1, 1)) == (255, 0, 0)


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    image.putpixel((0, 0), 1)
    image.save(tmp_path / "p.png", transparency=0)
    out = load_image(tmp_path / "p.png")
    assert out.mode == "RGB"
    assert pixel(out, (0, 0)) == (255, 0, 0) and pixel(out, (3, 3)) == (255, 255, 255)


def test_rgba_and_la_are_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 128))
    rgba.save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert pixel(out, (0, 0)) == (255, 255, 255)
    r, g, b = pixel(out, (1, 0))
    assert r == 255 and abs(g - 127) <= 1 and abs(b - 127) <= 1
    Image.new("LA", (2, 2), (0, 0)).save(tmp_path / "la.png")
    assert pixel(load_image(tmp_path / "la.png"), (0, 0)) == (255, 255, 255)


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 128 * 257, 65535]], np.uint16)).save(tmp_path / "g16.png")
    source = Image.open(tmp_path / "g16.png")
    assert source.mode.startswith("I")
    out = load_image(tmp_path / "g16.png")
    assert [pixel(out, (x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_resize_keeps_aspect_and_never_upscales_unless_asked(tmp_path):
    Image.new("RGB", (400, 200), (10, 20, 30)).save(tmp_path / "big.png")
    assert load_image(tmp_path / "big.png", max_pixels=5000).size == (100, 50)
    assert load_image(tmp_path / "big.png", max_pixels=10**6).size == (400, 200)
    assert load_image(tmp_path / "big.png", min_pixels=320_000).size == (800, 400)


@pytest.mark.parametrize("size", [(1000, 7), (7, 1000), (333, 777), (50, 50), (10_000, 1)])
@pytest.mark.parametrize("bounds", [(None, 4096), (4096, None), (1000, 2000)])
def test_target_size_is_within_bounds(size, bounds):
    lo, hi = bounds
    w, h = target_size(*size, min_pixels=lo, max_pixels=hi)
    if hi is not None:
        assert w * h <= hi
    if lo is not None and size[0] * size[1] < lo:
        assert w * h >= lo
    if min(w, h) > 10 and min(size) > 10:
        assert abs(w / h - size[0] / size[1]) / (size[0] / size[1]) < 0.05


def test_unreadable_image_raises_media_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(MediaError) as err:
        load_image(tmp_path / "bad.png")
    assert err.value.path == str(tmp_path / "bad.png")


# --- frame sampling ---


@pytest.mark.parametrize("total", [1, 2, 7, 8, 9, 100, 1001])
@pytest.mark.parametrize("num", [1, 3, 8, 16])
def test_sample_indices_count_bounds_order(total, num):
    idx = sample_indices(total, num, None, None)
    assert len(idx) == min(total, num)
    assert idx == sorted(set(idx)) and idx[0] >= 0 and idx[-1] < total


def test_sample_indices_centred_and_fps_capped():
    assert sample_indices(8, 4, None, None) == [1, 3, 5, 7]
    assert sample_indices(0, 4, 30.0, None) == []
    assert len(sample_indices(100, 8, 25.0, 1.0)) == 4  # 4 s at <= 1 frame/s
    assert len(sample_indices(100, 8, 25.0, 100.0)) == 8
    assert sample_indices(3, 8, 30.0, 1.0) == [1]  # 0.1 s still gives one frame
    with pytest.raises(ValueError):
        sample_indices(10, 0, None, None)


# --- video ---


@pytest.mark.parametrize("direction", ["right", "left"])
def test_load_video_frames_and_motion(tmp_path, direction):
    path = write_video(tmp_path / "v.mp4", square_frames(16, direction), fps=8)
    frames, meta = load_video(path, num_frames=4)
    assert frames.shape == (4, SIDE, SIDE, 3) and frames.dtype == np.uint8
    assert meta["total_frames"] == 16 and meta["fps"] == 8 and meta["duration"] == pytest.approx(2.0)
    assert meta["indices"] == [2, 6, 10, 14]
    xs = [centroid_x(f) for f in frames]
    assert xs == (sorted(xs) if direction == "right" else sorted(xs, reverse=True))
    assert abs(xs[-1] - xs[0]) > 20


def test_load_video_fps_cap_and_resize(tmp_path):
    path = write_video(tmp_path / "v.mp4", square_frames(16), fps=8)
    frames, meta = load_video(path, num_frames=8, max_fps=1.0, max_pixels=24 * 24)
    assert frames.shape == (2, 24, 24, 3) and meta["indices"] == [4, 12]


def test_frame_count_missing_from_header_is_counted(tmp_path):
    path = write_video(tmp_path / "v.mkv", square_frames(12), fps=6)
    with av.open(str(path)) as container:
        assert not container.streams.video[0].frames  # Matroska has no frame count
    info = probe_video(path)
    assert info["total_frames"] == 12 and (info["width"], info["height"]) == (SIDE, SIDE)
    frames, meta = load_video(path, num_frames=3)
    assert len(frames) == 3 and meta["indices"] == [2, 6, 10]


def test_display_rotation_is_applied(tmp_path):
    frame = np.zeros((16, 32, 3), np.uint8)
    frame[:, :8] = 255  # white left edge
    path = write_video(tmp_path / "r.mp4", [frame] * 4, rotation=90)
    frames, _ = load_video(path, num_frames=2)
    assert frames.shape == (2, 32, 16, 3)
    assert frames[0, -4:].mean() > 200 and frames[0, :20].mean() < 30  # counter-clockwise: left edge at the bottom


def test_corrupt_video_raises_media_error(tmp_path):
    good = write_video(tmp_path / "v.mp4", square_frames(8)).read_bytes()
    rng = np.random.default_rng(0)
    (tmp_path / "noise.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp_path / "truncated.mp4").write_bytes(good[: len(good) // 3])
    for name in ("noise.mp4", "truncated.mp4", "missing.mp4"):
        with pytest.raises(MediaError):
            load_video(tmp_path / name)
        with pytest.raises(MediaError):
            probe_video(tmp_path / name)


def test_audio_only_file_raises_media_error(tmp_path):
    path = tmp_path / "a.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(MediaError, match="no video stream"):
        load_video(path)
    with pytest.raises(MediaError, match="no video stream"):
        probe_video(path)


# --- cache ---


@pytest.fixture
def sources(tmp_path) -> tuple[list[str], list[str]]:
    src = tmp_path / "src"
    src.mkdir()
    images = []
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (120, 60), color).save(src / f"{i}.png")
        images.append(str(src / f"{i}.png"))
    videos = [str(write_video(src / "v.mp4", square_frames(10)))]
    return images, videos


@pytest.fixture
def decode_calls(monkeypatch) -> dict[str, int]:
    calls = {"image": 0, "video": 0}
    load_image_, load_video_ = media.load_image, media.load_video

    def counting_image(*args, **kwargs):
        calls["image"] += 1
        return load_image_(*args, **kwargs)

    def counting_video(*args, **kwargs):
        calls["video"] += 1
        return load_video_(*args, **kwargs)

    monkeypatch.setattr(media, "load_image", counting_image)
    monkeypatch.setattr(media, "load_video", counting_video)
    return calls


SETTINGS = MediaSettings(min_pixels=None, max_pixels=1800, num_frames=4)


def test_second_preprocess_is_all_hits_and_decodes_nothing(tmp_path, sources, decode_calls):
    images, videos = sources
    first = preprocess(images + images[:1], videos * 2, SETTINGS, tmp_path / "cache", workers=2, progress=False)
    assert (first.hits, first.misses) == (0, 4) and decode_calls == {"image": 3, "video": 1}  # duplicates once
    assert set(first.mapping) == set(images + videos)
    second = preprocess(images, videos, SETTINGS, tmp_path / "cache", workers=0, progress=False)
    assert (second.hits, second.misses) == (4, 0) and decode_calls == {"image": 3, "video": 1}
    assert second.mapping == first.mapping

    cached = load_cached_image(first.mapping[images[0]])
    assert cached.mode == "RGB" and cached.size == (60, 30)
    assert np.array_equal(np.asarray(cached), np.asarray(load_image(images[0], max_pixels=1800)))
    frames, meta = load_cached_video(first.mapping[videos[0]])
    expected, expected_meta = load_video(videos[0], num_frames=4, max_pixels=1800)
    assert np.array_equal(frames, expected) and meta == expected_meta


def test_edited_source_or_new_settings_is_a_miss(tmp_path, sources, decode_calls):
    images, videos = sources
    first = preprocess(images, videos, SETTINGS, tmp_path / "cache", progress=False)
    Image.new("RGB", (120, 60), (9, 9, 9)).save(images[1])
    again = preprocess(images, videos, SETTINGS, tmp_path / "cache", progress=False)
    assert (again.hits, again.misses) == (3, 1) and again.mapping[images[1]] != first.mapping[images[1]]
    assert pixel(load_cached_image(again.mapping[images[1]]), (0, 0)) == (9, 9, 9)
    other = preprocess(images, videos, MediaSettings(max_pixels=800, num_frames=4), tmp_path / "cache", progress=False)
    assert other.misses == 4


def test_settings_key_is_stable():
    assert MediaSettings(max_pixels=10, max_fps=2).key() == MediaSettings(max_pixels=10, max_fps=2.0).key()
    assert MediaSettings(max_pixels=10).key() != MediaSettings(max_pixels=11).key()


def test_writes_are_atomic(tmp_path, sources, monkeypatch):
    images, videos = sources
    cache = tmp_path / "cache"
    preprocess(images, videos, SETTINGS, cache, progress=False)
    assert not list(cache.glob(".*")) and len(list(cache.iterdir())) == 4

    def crash(file, **arrays):
        file.write(b"partial npz")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        preprocess([], videos, MediaSettings(max_pixels=100), tmp_path / "crashed", workers=0, progress=False)
    assert list((tmp_path / "crashed").iterdir()) == []


def test_preprocess_reports_undecodable_file(tmp_path, sources):
    images, _ = sources
    Path(images[2]).write_bytes(b"broken")
    with pytest.raises(MediaError) as err:
        preprocess(images, [], SETTINGS, tmp_path / "cache", progress=False)
    assert err.value.path == images[2]


def test_header_overcounting_frames_is_resampled(tmp_path, monkeypatch):
    path = write_video(tmp_path / "v.mp4", square_frames(8), fps=8)
    stream_info = media._stream_info
    monkeypatch.setattr(media, "_stream_info", lambda *a: {**stream_info(*a), "total_frames": 40})
    frames, meta = load_video(path, num_frames=4)
    assert len(frames) == 4 and meta["total_frames"] == 8 and meta["indices"] == [1, 3, 5, 7]
