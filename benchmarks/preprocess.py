"""Media preprocessing, cold cache vs warm cache, side by side in one run.

    python benchmarks/preprocess.py [--json] [--limit N] [--workers W] [--repeats R]

Reads the example dataset's rows (example_data/train.json + eval.json), and preprocesses their media with the default
settings of the run config (components.data.media_cache.preprocess_samples, as the preprocess_media step does) into an
empty temporary cache: the first run decodes every file (all misses), the second finds every file in the cache (all
hits; it still hashes every source file to find its key). Videos and images are measured separately; the videos are
the figure of merit. Each pass uses a fresh empty cache; the best of --repeats passes is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import DataConfig  # noqa: E402
from components.data.media_cache import MediaSettings, preprocess_samples  # noqa: E402
from components.data.rows import parse_row, read_rows  # noqa: E402


def example_samples(limit: int | None = None) -> list:
    cfg = DataConfig()
    samples = []
    for path in (cfg.train_path, cfg.eval_path):
        for index, row in enumerate(read_rows(ROOT / path)):
            samples.append(
                parse_row(
                    row,
                    index,
                    cfg.user_key,
                    cfg.assistant_key,
                    cfg.system_key,
                    cfg.image_folder,
                    cfg.video_folder,
                    ROOT,
                )  # fmt: skip
            )
    return samples[:limit] if limit else samples


def measure(samples: list, settings: MediaSettings, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="lmms-bench-cache-") as cache:
        cold = preprocess_samples(samples, settings, cache, workers=workers, progress=False)
        warm = preprocess_samples(samples, settings, cache, workers=workers, progress=False)
    assert cold.misses == len(cold.mapping) and warm.hits == len(warm.mapping), "the second run must be all hits"
    assert warm.mapping == cold.mapping
    return {"files": len(cold.mapping), "cold_s": cold.seconds, "warm_s": warm.seconds,
            "speedup": cold.seconds / warm.seconds if warm.seconds else float("inf")}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--limit", type=int, help="only the first N rows (a quick run)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    samples = example_samples(args.limit)
    settings = MediaSettings.from_config(DataConfig())
    groups = {
        "videos": [s for s in samples if s.videos],
        "images": [s for s in samples if s.images and not s.videos],
    }
    results = {}
    for name, group in groups.items():
        if not group:
            continue
        runs = [measure(group, settings, args.workers) for _ in range(max(1, args.repeats))]
        best_cold, best_warm = min(r["cold_s"] for r in runs), min(r["warm_s"] for r in runs)
        results[name] = {"files": runs[0]["files"], "cold_s": round(best_cold, 4), "warm_s": round(best_warm, 4),
                         "speedup": round(best_cold / best_warm, 1)}  # fmt: skip
    out = {"settings": settings.key(), "workers": args.workers, "repeats": args.repeats, "rows": len(samples),
           "results": results, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"media preprocessing, {len(samples)} rows, settings {settings.key()}, {args.workers} workers")
        for name, r in results.items():
            print(f"  {name:6s} {r['files']:4d} files  cold {r['cold_s']:.3f} s  warm {r['warm_s']:.4f} s  "
                  f"second run {r['speedup']:.1f}x faster")  # fmt: skip
    return out


if __name__ == "__main__":
    main()
