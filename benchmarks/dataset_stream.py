"""Rows as a stream: peak memory of saving and of reading back a PreparedDataset, at several row counts.

    python benchmarks/dataset_stream.py [--rows 10000,100000] [--shard-rows N] [--json]

For each row count, two fresh subprocesses, each through the dataset materializer (materializers/dataset.py, zenml.io.
fileio into a local folder, as the pipeline's artifact store):
  save          N synthetic rows in the example data's mix (image, multi-image, video, text; no media files needed),
                generated one at a time as they are written (a source that does not hold the rows, as a streaming
                validation would hand them over), written as shards;
  load_iterate  the materializer's load, then every row of both splits iterated (each parsed into a Sample), and
                1,000 rows read by random index (what a shuffled training epoch does).
Peak memory is the process's resident-set high-water mark (VmHWM, as benchmarks/bench.py): `peak_mb` is the whole
process (interpreter, ZenML and the libraries included), `rise_mb` its rise over the resident set after the imports.
The rows name 1,000 distinct media files: the media-digest map is one entry per distinct file, in memory while the
dataset is built (it is read back only when used).

`measure(rows)` returns the figures as a dict (benchmarks/scale.py can call it).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import _status, peak_since, reset_peak  # noqa: E402
from components.artifacts import Sample  # noqa: E402

MEDIA_FILES = 1_000
EVAL_SHARE = 20  # one row in 20 is an eval row
RANDOM_READS = 1_000


class SyntheticRows(Sequence[Sample]):
    """Row i made when asked for (deterministic): the example data's mix of modalities and prompt lengths."""

    def __init__(self, n: int, start: int = 0):
        self.n, self.start = n, start

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not 0 <= i < self.n:
            raise IndexError(i)
        index = self.start + i
        rng = random.Random(index)
        kind = rng.choice(["image", "image", "multi_image", "video", "text"])
        media = [f"media/file{rng.randrange(MEDIA_FILES)}.png" for _ in range(2 if kind == "multi_image" else 1)]
        question = " ".join(rng.choice(["what", "colour", "shape", "moves", "left", "right"]) for _ in range(12))
        placeholder = {"image": "<image>\n", "multi_image": "<image>\n<image>\n", "video": "<video>\n"}.get(kind, "")
        turns = [("user", placeholder + question), ("assistant", f"answer {index}")]
        raw = {"id": str(index), "conversations": [{"from": "human", "value": placeholder + question}]}
        return Sample(
            index,
            str(index),
            None,
            turns,
            images=media if kind in ("image", "multi_image") else [],
            videos=[media[0].replace(".png", ".mp4")] if kind == "video" else [],
            raw=raw,
        )


def synthetic_dataset(rows: int):
    from components.artifacts import PreparedDataset

    n_eval = rows // EVAL_SHARE
    digests = {f"media/file{k}.{ext}": f"{k:064x}" for k in range(MEDIA_FILES) for ext in ("png", "mp4")}
    return PreparedDataset(SyntheticRows(rows - n_eval), SyntheticRows(n_eval, start=rows - n_eval), digests)


def _child(mode: str, rows: int, folder: str, shard_rows: int | None) -> dict:
    from components.artifacts import PreparedDataset
    from materializers.dataset import PreparedDatasetMaterializer

    cls = PreparedDatasetMaterializer
    if shard_rows:
        cls = type("Sharded", (PreparedDatasetMaterializer,), {"SHARD_ROWS": shard_rows})
    rss0 = reset_peak()
    start = time.perf_counter()
    if mode == "save":
        ds = synthetic_dataset(rows)
        cls(folder).save(ds)
        seen = rows
        content_hash = json.loads((Path(folder) / "manifest.json").read_text())["content_hash"]
    else:
        ds = cls(folder).load(PreparedDataset)
        seen = sum(1 for _ in ds.train) + sum(1 for _ in ds.eval)
        rng = random.Random(0)
        for _ in range(RANDOM_READS):
            ds.train[rng.randrange(len(ds.train))]
        content_hash = ds.content_hash()
    seconds = time.perf_counter() - start
    assert seen == rows, f"{mode}: {seen} rows, expected {rows}"
    return {
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "peak_mb": round(_status("VmHWM") / 2**20, 1),
        "rise_mb": round(peak_since(rss0) / 2**20, 1),
        "content_hash": content_hash,
    }


def _run_child(mode: str, rows: int, folder: Path, shard_rows: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--rows", str(rows), "--dir", str(folder)]
    cmd += ["--shard-rows", str(shard_rows)] if shard_rows else []
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} at {rows} rows failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(rows: Sequence[int] = (10_000, 100_000), shard_rows: int | None = None) -> dict:
    """Per row count: save and load_iterate figures (each in a fresh subprocess); the peak ratios of the largest
    row count over the smallest."""
    results: dict = {"rows": {}}
    with tempfile.TemporaryDirectory(prefix="lmms-dataset-stream-") as tmp:
        for n in rows:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            save = _run_child("save", n, folder, shard_rows)
            load = _run_child("load", n, folder, shard_rows)
            if save.pop("content_hash") != load.pop("content_hash"):
                raise AssertionError(f"{n} rows: the content hash read back differs from the one written")
            size = sum(p.stat().st_size for p in folder.iterdir())
            shards = len(list(folder.glob("*.jsonl"))) - 1  # media_digests.jsonl
            results["rows"][str(n)] = {"save": save, "load_iterate": load, "mb_on_disk": round(size / 2**20, 1),
                                       "shards": shards}  # fmt: skip
    lo, hi = (results["rows"][str(n)] for n in (min(rows), max(rows)))
    # the process peaks; a rise of a megabyte or less is noise (allocator, page granularity), its ratio says nothing
    results["peak_ratio"] = {
        step: round(hi[step]["peak_mb"] / lo[step]["peak_mb"], 2) for step in ("save", "load_iterate")
    }
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="10000,100000", help="comma-separated row counts (default 10000,100000)")
    p.add_argument("--shard-rows", type=int, help="rows per shard (default: the materializer's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--child", choices=["save", "load"], help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = _child(args.child, int(args.rows), args.dir, args.shard_rows)
        print(json.dumps(result))
        return result
    results = measure([int(n) for n in args.rows.split(",")], args.shard_rows)
    if args.json:
        print(json.dumps(results, indent=2))
        return results
    print(f"{'rows':>9} {'step':>13} {'seconds':>8} {'rows/s':>9} {'peak MB':>8} {'rise MB':>8}")
    for n, r in results["rows"].items():
        for step in ("save", "load_iterate"):
            f = r[step]
            print(f"{n:>9} {step:>13} {f['seconds']:>8} {f['rows_per_s']:>9} {f['peak_mb']:>8} {f['rise_mb']:>8}")
    for step, ratio in results["peak_ratio"].items():
        print(f"process peak, largest / smallest row count, {step}: {ratio}x")
    return results


if __name__ == "__main__":
    main()
