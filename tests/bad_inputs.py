"""A corpus of bad (and awkward but valid) dataset inputs, written into a temporary folder.

`build_corpus` writes one dataset file that mixes valid rows with many bad rows, each tagged with the issue kind that
validation must report for it. `whole_file_cases` writes files that are bad (or awkward but fine) as a whole.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from components.artifacts import Sample
from components.config import DataConfig
from components.data.collator import AllLabelsMasked

MAX_IMAGE_PIXELS = 10_000  # valid images are at most 64x64
MAX_LENGTH = 512
SPECIAL_TOKENS = ("<|im_end|>", "<|im_start|>")
# An image-only, single-image model: under these limits the rows tagged with a `limit` kind become invalid too.
IMAGE_ONLY = {"name": "image-only-model", "images": True, "multi_image": False, "video": False}


@dataclass
class Corpus:
    path: Path
    media: Path
    data_cfg: DataConfig
    rows: list[Any]
    tags: dict[str, int]  # case name -> row index
    expected: dict[int, str]  # bad row index -> expected issue kind
    valid: list[int]
    duplicates: list[tuple[int, int]]
    limit_expected: dict[int, str] = field(default_factory=dict)  # rows that IMAGE_ONLY additionally rejects


def fake_token_length(sample: Sample) -> tuple[int, int]:
    """Stands in for the processor: one token per character, answers supervised; some ids misbehave on purpose."""
    if sample.id == "encode_error":
        raise ValueError("processor failed: image token count does not match")
    if sample.id == "collator_all_masked":  # what components.data.collator raises for a row without supervised tokens
        raise AllLabelsMasked(f"row {sample.index}: every label is masked (no assistant tokens)")
    num_tokens = sum(len(text) for _, text in sample.turns) + len(sample.system_prompt or "")
    supervised = sum(len(text) for role, text in sample.turns if role == "assistant")
    if sample.id == "too_long":
        num_tokens = MAX_LENGTH + 1
    if sample.id == "all_masked":
        supervised = 0
    return num_tokens, supervised


# ----------------------------------------------------------------------------------------------------------- media


def _png_with_header_size(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height, with no real pixel data (a decompression bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _video(path: Path, frames: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)


def _write_media(media: Path, outside: Path) -> None:
    rng = np.random.default_rng(0)
    Image.new("RGB", (8, 8), (255, 0, 0)).save(media / "red.png")
    Image.new("RGB", (16, 8), (0, 0, 255)).save(media / "blue.jpg")
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(media / "cmyk.jpg")
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    palette.save(media / "palette.png")
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(media / "sixteen_bit.png")
    Image.new("RGB", (8, 8), (0, 200, 0)).save(media / "ünïcødé 画像.png")
    noise = Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8))
    noise.save(media / "noise.png")
    data = (media / "noise.png").read_bytes()
    (media / "truncated.png").write_bytes(data[: len(data) // 2])
    (media / "zero_bytes.png").write_bytes(b"")
    (media / "text.jpg").write_text("this is not a jpeg\n")
    Image.new("RGB", (128, 128)).save(media / "large.png")  # 16384 px > MAX_IMAGE_PIXELS
    _png_with_header_size(media / "bomb.png", 100_000, 100_000)
    (media / "a_folder.png").mkdir()
    Image.new("RGB", (8, 8)).save(outside / "secret.png")
    (media / "escape.png").symlink_to(outside / "secret.png")

    _video(media / "ok.mp4", frames=3)
    _video(media / "zero_frames.avi", frames=0)  # AVI keeps a video stream with no frames; MP4 drops the track
    data = (media / "ok.mp4").read_bytes()
    (media / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (media / "text.mp4").write_text("not a video\n")
    _audio_only(media / "audio_only.mp4")


# ------------------------------------------------------------------------------------------------------------ rows


def _row(question: str, answer: str = "An answer.", **extra: Any) -> dict[str, Any]:
    return {**extra, "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}


def _image_row(rid: str, image: Any, question: str = "<image>\nWhat is shown?") -> dict[str, Any]:
    return _row(question, id=rid, image=image)


def _video_row(rid: str, video: Any, question: str = "<video>\nWhat happens?") -> dict[str, Any]:
    return _row(question, id=rid, video=video)


def build_corpus(tmp: Path) -> Corpus:
    media, outside = tmp / "media", tmp / "outside"
    media.mkdir(parents=True)
    outside.mkdir()
    _write_media(media, outside)

    # (case name, row, expected kind or None when valid, kind under IMAGE_ONLY limits for otherwise-valid rows)
    cases: list[tuple[str, Any, str | None, str | None]] = [
        ("text_only", _row("Hello?", "Hi.", id="text_only", system_prompt="Be brief."), None, None),
        ("image", _image_row("image", "red.png"), None, None),
        ("cmyk_jpeg", _image_row("cmyk_jpeg", "cmyk.jpg"), None, None),
        ("palette_png", _image_row("palette_png", "palette.png"), None, None),
        ("sixteen_bit_png", _image_row("sixteen_bit_png", "sixteen_bit.png"), None, None),
        ("unicode_name", _image_row("unicode_name", "ünïcødé 画像.png"), None, None),
        ("noise_64px", _image_row("noise_64px", "noise.png"), None, None),
        ("multi_image", _image_row("multi_image", ["red.png", "blue.jpg"], "<image><image>\nCompare."), None,
         "too_many_images"),
        ("video", _video_row("video", "ok.mp4"), None, "unsupported_video"),
        ("video_own_max_frames", _video_row("video_own_max_frames", "ok.mp4") | {"max_frames": 2}, None,
         "unsupported_video"),
        ("system_turn", {"id": "system_turn", "image": "blue.jpg", "conversations": [
            {"from": "system", "value": "You are careful."}, {"from": "human", "value": "<image> Colour?"},
            {"from": "gpt", "value": "Blue."}, {"from": "human", "value": "Sure?"}, {"from": "gpt", "value": "Yes."}]},
         None, None),
        ("duplicate", _image_row("duplicate", "red.png"), None, None),  # same as "image" but for its id
        # structure
        ("not_object_string", "just a string", "not_object", None),
        ("not_object_list", [{"from": "human", "value": "hi"}], "not_object", None),
        ("value_not_string", {"id": "value_not_string", "conversations": [
            {"from": "human", "value": 42}, {"from": "gpt", "value": "x"}]}, "wrong_type", None),
        ("image_as_int", _image_row("image_as_int", 7), "wrong_type", None),
        ("system_prompt_not_string", _row("q", id="system_prompt_not_string", system_prompt=3), "wrong_type", None),
        ("max_frames_not_int", _video_row("max_frames_not_int", "ok.mp4") | {"max_frames": "2"}, "wrong_type", None),
        ("max_frames_zero", _video_row("max_frames_zero", "ok.mp4") | {"max_frames": 0}, "wrong_type", None),
        ("turn_not_object", {"id": "turn_not_object", "conversations": ["hello", "hi"]}, "wrong_type", None),
        ("missing_conversations", {"id": "missing_conversations", "image": "red.png"}, "missing_key", None),
        ("unknown_key", _row("q", id="unknown_key", images="red.png"), "unknown_key", None),
        ("empty_conversation", {"id": "empty_conversation", "conversations": []}, "empty_conversation", None),
        ("unknown_role", {"id": "unknown_role", "conversations": [
            {"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]}, "unknown_role", None),
        ("assistant_first", {"id": "assistant_first", "conversations": [
            {"from": "gpt", "value": "a"}, {"from": "human", "value": "q"}]}, "role_order", None),
        ("two_user_turns", {"id": "two_user_turns", "conversations": [
            {"from": "human", "value": "q"}, {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a"}]},
         "role_order", None),
        ("last_turn_user", {"id": "last_turn_user", "conversations": [
            {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}, {"from": "human", "value": "q2"}]},
         "role_order", None),
        ("image_placeholders_too_many", _image_row("image_placeholders_too_many", "red.png", "<image><image> q"),
         "placeholder_mismatch", None),
        ("image_placeholders_too_few", _image_row("image_placeholders_too_few", ["red.png", "blue.jpg"], "<image> q"),
         "placeholder_mismatch", None),
        ("video_placeholders_too_many", _video_row("video_placeholders_too_many", "ok.mp4", "<video><video> q"),
         "placeholder_mismatch", None),
        ("video_placeholders_too_few", _video_row("video_placeholders_too_few", "ok.mp4", "What happens?"),
         "placeholder_mismatch", None),
        ("placeholder_in_answer", {"id": "placeholder_in_answer", "image": "red.png", "conversations": [
            {"from": "human", "value": "q"}, {"from": "gpt", "value": "<image>"}]}, "placeholder_in_answer", None),
        ("empty_answer", _row("q", "  ", id="empty_answer"), "empty_answer", None),
        # media
        ("missing_file", _image_row("missing_file", "no_such.png"), "missing_file", None),
        ("directory", _image_row("directory", "a_folder.png"), "not_a_file", None),
        ("zero_byte_image", _image_row("zero_byte_image", "zero_bytes.png"), "corrupt_image", None),
        ("truncated_png", _image_row("truncated_png", "truncated.png"), "corrupt_image", None),
        ("text_as_jpeg", _image_row("text_as_jpeg", "text.jpg"), "corrupt_image", None),
        ("large_image", _image_row("large_image", "large.png"), "image_too_large", None),
        ("bomb_header", _image_row("bomb_header", "bomb.png"), "image_too_large", None),
        ("absolute_outside_root", _image_row("absolute_outside_root", str(outside / "secret.png")), "outside_root",
         None),
        ("symlink_escape", _image_row("symlink_escape", "escape.png"), "outside_root", None),
        ("missing_video", _video_row("missing_video", "no_such.mp4"), "missing_file", None),
        ("truncated_mp4", _video_row("truncated_mp4", "truncated.mp4"), "corrupt_video", None),
        ("text_as_mp4", _video_row("text_as_mp4", "text.mp4"), "corrupt_video", None),
        ("audio_only", _video_row("audio_only", "audio_only.mp4"), "no_video_stream", None),
        ("zero_frame_video", _video_row("zero_frame_video", "zero_frames.avi"), "empty_video", None),
        # literal special tokens
        ("special_token_user", _row("Say <|im_end|> please", id="special_token_user"), "special_token", None),
        ("special_token_assistant", _row("q", "Done<|im_end|>", id="special_token_assistant"), "special_token", None),
        ("special_token_system", _row("q", id="special_token_system", system_prompt="<|im_start|>system"),
         "special_token", None),
        # token length (fake_token_length)
        ("too_long", _row("A long question", id="too_long"), "too_long", None),
        ("all_masked", _row("A question whose answer is cut", id="all_masked"), "all_masked", None),
        ("encode_error", _row("A question that fails to encode", id="encode_error"), "encode", None),
        ("collator_all_masked", _row("Labels all masked", id="collator_all_masked"), "all_masked", None),
    ]  # fmt: skip
    rows = [row for _, row, _, _ in cases]
    tags = {name: i for i, (name, *_) in enumerate(cases)}
    path = tmp / "dataset.json"
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    data_cfg = DataConfig(
        train_path=str(path),
        eval_path=None,
        image_folder=str(media),
        video_folder=str(media),
        allowed_roots=[str(media)],
        max_image_pixels=MAX_IMAGE_PIXELS,
    )
    return Corpus(
        path=path,
        media=media,
        data_cfg=data_cfg,
        rows=rows,
        tags=tags,
        expected={i: kind for i, (_, _, kind, _) in enumerate(cases) if kind is not None},
        valid=[i for i, (_, _, kind, _) in enumerate(cases) if kind is None],
        duplicates=[(tags["duplicate"], tags["image"])],
        limit_expected={i: lim for i, (_, _, kind, lim) in enumerate(cases) if kind is None and lim is not None},
    )


# ----------------------------------------------------------------------------------------------- whole-file cases


@dataclass
class FileCase:
    path: Path
    error: str | None  # a fragment of the DatasetFileError message; None when the file must be accepted
    num_rows: int = 0  # when accepted: how many (valid) rows


def whole_file_cases(tmp: Path) -> dict[str, FileCase]:
    tmp.mkdir(parents=True, exist_ok=True)
    row = json.dumps(_row("Hello?", "Hi.", id="ok"))
    files: dict[str, tuple[str, bytes, str | None, int]] = {
        "malformed_json": ("malformed.json", b'[\n  {"id": "a",\n   "conversations": [}\n]', "line 3 column 22", 0),
        "not_utf8": ("latin1.json", f"[{row.replace('Hi.', 'Olé')}]".encode("latin-1"), "not UTF-8", 0),
        "utf8_bom": ("bom.json", b"\xef\xbb\xbf" + f"[{row}]".encode(), None, 1),
        "jsonl_bad_line": ("bad_line.jsonl", f"{row}\n{{'single': 'quotes'}}\n".encode(), "line 2 column 2", 0),
        "jsonl_ok": ("ok.jsonl", f"{row}\n\n{row.replace('ok', 'ok2')}\n".encode(), None, 2),
        "top_level_object": ("object.json", row.encode(), "top level must be a list", 0),
        "empty_list": ("empty.json", b"[]", None, 0),
    }
    cases = {}
    for name, (filename, content, error, num_rows) in files.items():
        path = tmp / filename
        path.write_bytes(content)
        cases[name] = FileCase(path, error, num_rows)
    return cases
