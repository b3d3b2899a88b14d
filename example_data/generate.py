"""Generate the tiny synthetic LLaVA-style example dataset (deterministic for a given seed).

    python example_data/generate.py [--out example_data] [--n-train 480] [--n-eval 64] [--seed 0]

Every answer is one lowercase word that can only be known by looking at the media: the colour of a shape, which half
of the image it is in, which of two images shows the red shape, which way a square moves in a video. Text-only rows
("Repeat the word: blue") keep the model's plain-text path exercised. Media go under <out>/media/<split>/ and rows
refer to them relative to <out>/media, so the eval split never shares a file with train.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

SIZE = 56
COLORS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 235), "yellow": (235, 215, 40)}
SHAPES = ("circle", "square", "triangle")
KINDS = {"color": 0.40, "position": 0.20, "multi_image": 0.15, "video": 0.15, "text": 0.10}
SYSTEM_PROMPT = "Answer with one word."
VOCAB = [*COLORS, "left", "right"]
PREFIX = {
    "color": "<image>\n",
    "position": "<image>\n",
    "multi_image": "<image>\n<image>\n",
    "video": "<video>\n",
    "text": "",
}
VIDEO_FRAMES, VIDEO_FPS, SQUARE = 8, 4, 12

Q_COLOR = "What color is the shape?"
Q_SIDE = "Is the shape on the left or the right?"
Q_MULTI = "Which image shows the red shape, the first or the second?"
Q_MOVE = "Which way does the square move?"
Q_END = "Where does the square end up, on the left or the right?"


def draw_shape(rng: random.Random, color: str, side: str, shape: str) -> Image.Image:
    """One filled shape, entirely inside the given half, on black."""
    size = rng.randint(18, 24)
    half = SIZE // 2
    x0 = rng.randint(1, half - size - 1) + (half if side == "right" else 0)
    y0 = rng.randint(1, SIZE - size - 1)
    box = (x0, y0, x0 + size - 1, y0 + size - 1)
    fill = tuple(min(255, max(0, c + rng.randint(-15, 15))) for c in COLORS[color])
    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(x0 + size // 2, y0), (box[2], box[3]), (x0, box[3])], fill=fill)
    return image


def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    for codec in ("libx264", "mpeg4"):
        try:
            with av.open(str(path), "w") as container:
                stream = container.add_stream(codec, rate=fps)
                stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
                stream.codec_context.thread_count = 1  # thread count changes x264's output
                if codec == "libx264":
                    stream.options = {"crf": "20", "preset": "medium"}
                for array in frames:
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
                container.mux(stream.encode())
            return
        except (av.FFmpegError, ValueError):
            path.unlink(missing_ok=True)
    raise RuntimeError("neither libx264 nor mpeg4 can encode here")


def moving_square(rng: random.Random, direction: str) -> list[np.ndarray]:
    start, end = rng.randint(2, 6), SIZE - SQUARE - rng.randint(2, 6)
    if direction == "left":
        start, end = end, start
    y = rng.randint(4, SIZE - SQUARE - 4)
    frames = []
    for i in range(VIDEO_FRAMES):
        x = round(start + (end - start) * i / (VIDEO_FRAMES - 1))
        frame = np.zeros((SIZE, SIZE, 3), np.uint8)
        frame[y : y + SQUARE, x : x + SQUARE] = 255
        frames.append(frame)
    return frames


def kind_counts(n: int) -> dict[str, int]:
    counts = {k: math.floor(n * p) for k, p in KINDS.items()}
    counts["color"] += n - sum(counts.values())
    return counts


def make_split(rng: random.Random, split: str, n: int, media_dir: Path, seen: set[bytes]) -> list[dict]:
    counts = kind_counts(n)
    (media_dir / split).mkdir(parents=True, exist_ok=True)
    for stale in [*(media_dir / split).glob("img_*.png"), *(media_dir / split).glob("vid_*.mp4")]:
        stale.unlink()

    # A pool of images, about one per 1.3 single-image rows, so some images get both a colour and a position row;
    # colours and sides are balanced, and multi-image rows draw their pairs from the same pool.
    n_single = counts["color"] + counts["position"]
    pool = []
    for i in range(max(len(COLORS) * 2, math.ceil(n_single / 1.3))):
        color, side = list(COLORS)[i % len(COLORS)], ("left", "right")[(i // len(COLORS)) % 2]
        name = f"{split}/img_{i:04d}.png"
        shape = rng.choice(SHAPES)
        while (image := draw_shape(rng, color, side, shape)).tobytes() in seen:  # eval never repeats a train picture
            pass
        seen.add(image.tobytes())
        image.save(media_dir / name, optimize=True)
        pool.append({"file": name, "color": color, "side": side})
    rng.shuffle(pool)
    reds = [p for p in pool if p["color"] == "red"]
    others = [p for p in pool if p["color"] != "red"]

    singles = [pool[i % len(pool)] for i in range(n_single)]
    rows: list[tuple[str, str | list[str] | None, list[tuple[str, str]]]] = []  # (kind, media, [(question, answer)])
    for i, img in enumerate(singles):
        first = (Q_COLOR, img["color"]) if i < counts["color"] else (Q_SIDE, img["side"])
        second = (Q_SIDE, img["side"]) if first[0] == Q_COLOR else (Q_COLOR, img["color"])
        rows.append(("color" if i < counts["color"] else "position", img["file"], [first, second]))
    for _ in range(counts["multi_image"]):
        red, other = rng.choice(reds), rng.choice(others)
        pair, answer = ([red, other], "first") if rng.random() < 0.5 else ([other, red], "second")
        qa = [(Q_MULTI, answer), ("What color is the shape in the first image?", pair[0]["color"])]
        rows.append(("multi_image", [p["file"] for p in pair], qa))
    for i in range(counts["video"]):
        direction = ("left", "right")[i % 2]
        name = f"{split}/vid_{i:04d}.mp4"
        while (video := np.stack(moving_square(rng, direction))).tobytes() in seen:
            pass
        seen.add(video.tobytes())
        write_video(media_dir / name, video, VIDEO_FPS)
        rows.append(("video", name, [(Q_MOVE, direction), (Q_END, direction)]))
    for _ in range(counts["text"]):
        a, b = rng.choice(VOCAB), rng.choice(VOCAB)
        rows.append(("text", None, [(f"Repeat the word: {a}", a), (f"Now repeat the word: {b}", b)]))
    rng.shuffle(rows)

    out = []
    for i, (kind, files, qa) in enumerate(rows):
        row: dict = {"id": f"{split}-{i:05d}"}
        if rng.random() < 0.1:
            row["system_prompt"] = SYSTEM_PROMPT
        n_turns = 2 if rng.random() < 0.1 else 1
        if kind == "video":
            row["video"] = files
        elif files is not None:
            row["image"] = files
        row["conversations"] = []
        for t, (question, answer) in enumerate(qa[:n_turns]):
            row["conversations"] += [
                {"from": "human", "value": (PREFIX[kind] if t == 0 else "") + question},
                {"from": "gpt", "value": answer},
            ]
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--n-train", type=int, default=480)
    parser.add_argument("--n-eval", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng, seen = random.Random(args.seed), set()
    for split, n in (("train", args.n_train), ("eval", args.n_eval)):
        rows = make_split(rng, split, n, args.out / "media", seen)
        (args.out / f"{split}.json").write_text(json.dumps(rows, indent=1) + "\n")
        print(f"{split}: {len(rows)} rows -> {args.out / f'{split}.json'}")


if __name__ == "__main__":
    main()
