"""Validation and preprocessing at scale: N synthetic rows, measured in one run.

    python benchmarks/scale.py [--rows 100000] [--json] [--workdir DIR]

Generates N rows in the example data's mix (example_data/generate.py: 40% one image with a colour question, 20% one
image with a position question, 15% several images, 15% video, 10% text only; 10% with a system prompt, 10% with two
turns), every row's text distinct, over a pool of real media files of varied sizes and formats (PNG and JPEG images
from 32 to 448 px a side, MP4 videos of 8 to 24 frames): N // 200 images (8 to 500) and N // 2000 videos (2 to 50).
Then, each phase in a fresh subprocess (so each peak resident set is its own) with the demo config's tiny Qwen2-VL
processor and `data.num_workers` workers, it measures:

  validate_cold       prepare_dataset on the N rows, empty validation cache
  validate_warm       the same file again (same settings, same cache)
  validate_new_rows   the file with 1% new rows appended (same cache)
  validate_small      prepare_dataset on the first N // 10 rows, its own empty cache (peak RSS against validate_cold)
  preprocess_cold     preprocess_samples (components/data/media_cache.py) of the N rows into an empty media cache
  preprocess_warm     the same, the cache filled

Each phase reports its seconds (the library call alone, after imports; start-up is reported apart: imports, and the
Great Expectations share of validation, gx_s), rows per second, and peak RSS (VmHWM) of the phase's process and the
largest of its worker processes. Nothing here is asserted; docs/benchmarks.md holds the figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

KINDS = {"color": 0.40, "position": 0.20, "multi_image": 0.15, "video": 0.15, "text": 0.10}
COLORS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 235), "yellow": (235, 215, 40)}
WORDS = ["red", "green", "blue", "yellow", "left", "right", "first", "second", "up", "down", "circle", "square"]
SYSTEM = "Answer with one word."
PHASES = ("validate_cold", "validate_warm", "validate_new_rows", "validate_small", "preprocess_cold", "preprocess_warm")


def pool_sizes(n: int) -> tuple[int, int]:
    """(images, videos) in the media pool of n rows."""
    return min(500, max(8, n // 200)), min(50, max(2, n // 2000))


def make_media(media: Path, n_images: int, n_videos: int, seed: int = 0) -> tuple[list[str], list[str]]:
    import av  # noqa: PLC0415 - the driver process generates, the phase processes measure: keep their imports apart
    import numpy as np  # noqa: PLC0415
    from PIL import Image, ImageDraw  # noqa: PLC0415

    rng = random.Random(seed)
    media.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(n_images):
        w, h = rng.randint(32, 448), rng.randint(32, 448)
        image = Image.new("RGB", (w, h), tuple(rng.randint(0, 60) for _ in range(3)))
        x0, y0 = rng.randint(0, w // 2), rng.randint(0, h // 2)
        ImageDraw.Draw(image).ellipse((x0, y0, x0 + w // 3, y0 + h // 3), fill=rng.choice(list(COLORS.values())))
        name = f"img_{i:04d}.{'png' if i % 2 else 'jpg'}"
        image.save(media / name)
        images.append(name)
    videos = []
    for i in range(n_videos):
        w, h, frames = rng.randrange(32, 160, 2), rng.randrange(32, 160, 2), rng.randint(8, 24)
        name = f"vid_{i:03d}.mp4"
        with av.open(str(media / name), "w") as container:
            stream = container.add_stream("mpeg4", rate=rng.choice((4, 8)))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for t in range(frames):
                frame = np.zeros((h, w, 3), np.uint8)
                x = (t * 4) % max(1, w - 8)
                frame[h // 3 : h // 3 + 8, x : x + 8] = 255
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        videos.append(name)
    return images, videos


def make_rows(n: int, images: list[str], videos: list[str], seed: int, prefix: str) -> list[dict]:
    """n rows in the example data's mix; each row's text is distinct (its serial number is in the question)."""
    rng = random.Random(seed)
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=n)
    rows = []
    for i, kind in enumerate(kinds):
        row: dict = {"id": f"{prefix}-{i:07d}"}
        if rng.random() < 0.1:
            row["system_prompt"] = SYSTEM
        media_prefix = ""
        if kind in ("color", "position"):
            row["image"] = rng.choice(images)
            media_prefix = "<image>\n"
        elif kind == "multi_image":
            row["image"] = rng.sample(images, rng.randint(2, 3))
            media_prefix = "<image>\n" * len(row["image"])
        elif kind == "video":
            row["video"] = rng.choice(videos)
            media_prefix = "<video>\n"
        question = {
            "color": "What color is the shape?",
            "position": "Is the shape on the left or the right?",
            "multi_image": "Which image shows the red shape?",
            "video": "Which way does the square move?",
            "text": f"Repeat the word: {rng.choice(WORDS)}",
        }[kind]
        turns = [(f"{media_prefix}{question} (item {prefix}{i})", rng.choice(WORDS))]
        if rng.random() < 0.1:
            turns.append((f"And then? (item {prefix}{i})", " ".join(rng.choices(WORDS, k=rng.randint(1, 6)))))
        row["conversations"] = [
            c for q, a in turns for c in ({"from": "human", "value": q}, {"from": "gpt", "value": a})
        ]
        rows.append(row)
    return rows


def generate(workdir: Path, n: int) -> dict:
    n_images, n_videos = pool_sizes(n)
    images, videos = make_media(workdir / "media", n_images, n_videos)
    rows = make_rows(n, images, videos, seed=1, prefix="r")
    new = make_rows(max(1, n // 100), images, videos, seed=2, prefix="n")
    for name, data in (("rows", rows), ("rows_new", rows + new), ("rows_small", rows[: max(1, n // 10)])):
        with open(workdir / f"{name}.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in data)
    return {"rows": n, "new_rows": len(new), "small_rows": max(1, n // 10), "images": n_images, "videos": n_videos}


# ------------------------------------------------------------------------------------------------- phases


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _config(workdir: Path, data: str):
    from components.config import load_config  # noqa: PLC0415 - measured as start-up in the phase

    cfg = load_config(ROOT / "configs" / "demo.yaml")
    media = str(workdir / "media")
    update = {"train_path": str(workdir / data), "eval_path": None, "image_folder": media, "video_folder": media}
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={**update, "on_invalid": "drop"})})


def phase(name: str, workdir: Path) -> dict:
    t0 = time.perf_counter()
    from components.data.media_cache import MediaSettings, preprocess_samples  # noqa: PLC0415
    from components.data.prepare import prepare_dataset  # noqa: PLC0415
    from components.data.rows import media_root, parse_row, read_rows  # noqa: PLC0415
    from components.data.validation_cache import ValidationCache  # noqa: PLC0415

    import_s = time.perf_counter() - t0
    rss_start = _status("VmRSS")
    data = {"validate_new_rows": "rows_new.jsonl", "validate_small": "rows_small.jsonl"}.get(name, "rows.jsonl")
    cfg = _config(workdir, data)
    out: dict = {"phase": name, "import_s": round(import_s, 2)}
    start = time.perf_counter()
    if name.startswith("validate"):
        cache = ValidationCache(workdir / ("cache_small" if name == "validate_small" else "cache") / "v.sqlite")
        stats: dict = {}
        dataset, reports = prepare_dataset(cfg, base=ROOT, cache=cache, stats=stats)
        seconds = time.perf_counter() - start
        report = reports[0][1]
        out |= {
            "rows": report.total,
            "valid": len(report.valid_indices),
            "issues": dict(report.issue_counts),
            "cached": stats["train"]["cached"],
            "checked": stats["train"]["checked"],
            "shared_start": stats["train"].get("shared_start", 0),  # first rows taken whole from an earlier file
            "gx_s": round(stats["train"]["gx_s"], 2),
            "counted_in_main": stats["counted"],
        }
    else:
        path = workdir / "rows.jsonl"
        root = media_root(cfg.data.image_folder, path, ROOT)
        samples = [parse_row(r, i, image_folder=root, video_folder=root) for i, r in enumerate(read_rows(path))]
        start = time.perf_counter()
        res = preprocess_samples(
            samples, MediaSettings.from_config(cfg.data), workdir / "media_cache", cfg.data.num_workers, progress=False
        )
        seconds = time.perf_counter() - start
        out |= {"rows": len(samples), "files": len(res.mapping)}
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return out | {
        "seconds": round(seconds, 4),  # a warm phase of a few files takes milliseconds
        "rows_per_s": round(out["rows"] / seconds, 1),
        "rss_after_imports_mb": round(rss_start / 2**20),
        "peak_rss_mb": round(_status("VmHWM") / 2**20),
        "workers_peak_rss_mb": round(workers_peak / 2**20),
        "workers": cfg.data.num_workers,
    }


def _sub(name: str, workdir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", name, "--workdir", str(workdir)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"scale phase {name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(n: int, workdir: Path) -> dict:
    for stale in ("cache", "cache_small", "media_cache"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    start = time.perf_counter()
    data = generate(workdir, n)
    data["generate_s"] = round(time.perf_counter() - start, 1)
    phases = {name: _sub(name, workdir) for name in PHASES}
    cold, warm, new = (phases[k]["seconds"] for k in ("validate_cold", "validate_warm", "validate_new_rows"))
    return {
        "data": data,
        "phases": phases,
        "warm_speedup": round(cold / warm, 1),
        "new_rows_speedup": round(cold / new, 1),
        "peak_rss_ratio": round(phases["validate_cold"]["peak_rss_mb"] / phases["validate_small"]["peak_rss_mb"], 2),
        "cpus": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def render(result: dict) -> str:
    d = result["data"]
    lines = [
        f"{d['rows']} rows (+{d['new_rows']} new; small: {d['small_rows']}) over {d['images']} images and "
        f"{d['videos']} videos; {result['cpus']} CPUs, load average {result['load_avg']}",
        f"{'phase':<18} {'rows':>8} {'s':>8} {'rows/s':>9} {'cached':>7} {'gx s':>6} {'peak MB':>8} {'worker MB':>9}",
    ]
    for name, p in result["phases"].items():
        lines.append(
            f"{name:<18} {p['rows']:>8} {p['seconds']:>8} {p['rows_per_s']:>9} {p.get('cached', '-'):>7} "
            f"{p.get('gx_s', '-'):>6} {p['peak_rss_mb']:>8} {p['workers_peak_rss_mb']:>9}"
        )
    lines.append(
        f"warm revalidation {result['warm_speedup']}x faster than cold; 1% new rows {result['new_rows_speedup']}x; "
        f"peak RSS {d['rows']} rows / {d['small_rows']} rows = {result['peak_rss_ratio']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workdir", type=Path, help="where the data, media and caches go (default: a temp dir)")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.phase, args.workdir)))
        return 0
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="lmms-scale-") as tmp:
            result = run(args.rows, Path(tmp))
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args.rows, args.workdir)
    print(json.dumps(result, indent=1) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
