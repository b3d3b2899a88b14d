"""`lmms`: the supported-models table, dataset validation, LoRA merging and inference outside the pipeline.

Each command imports what it needs inside its own function, the one place in the library that does: `lmms models`
and `lmms --help` start in about 0.5 s instead of the 10 s or more that importing torch, transformers, PEFT, MLflow and
Great Expectations takes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from contextlib import contextmanager, redirect_stdout

from components.models.catalog import supported_models_table


@contextmanager
def stdout_to_stderr(active: bool = True):
    """Libraries print banners on stdout while loading (DeepSpeed); keep stdout for a JSON document."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)  # what writes to the file descriptor (C code, handlers bound to the real stdout)
    try:
        with redirect_stdout(sys.stderr):  # what writes to sys.stdout
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_models(args) -> int:
    rows = supported_models_table()
    if args.markdown:
        from components.models.catalog import supported_models_markdown

        print(supported_models_markdown(), end="")
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ["id", "hub_path", "family", "modalities", "lora_targets"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols))
    return 0


def cmd_validate(args) -> int:
    from components.config import load_config, parse_config
    from components.data.prepare import prepare_dataset
    from components.data.report import DatasetInvalid

    cfg = load_config(args.config) if args.config else parse_config({})
    data = cfg.data.model_copy(update={"train_path": args.data, "eval_path": None, "on_invalid": "fail"})
    if args.image_folder is not None:
        data.image_folder = data.video_folder = args.image_folder
    if args.video_folder is not None:
        data.video_folder = args.video_folder
    cfg = cfg.model_copy(update={"data": data})
    if args.model:
        cfg.model.model_id, cfg.model.tiny, cfg.model.family = args.model, False, None
    try:
        dataset, reports = prepare_dataset(cfg)
    except DatasetInvalid as e:
        print(str(e), file=sys.stderr)
        return 1
    r = reports[0][1]
    print(f"{args.data}: {r.total} rows, all valid; modalities {r.modality_counts}; duplicates {len(r.duplicates)}")
    for row in r.shrunk:
        print(f"  row {row['index']} (id={row['id']}) shrunk to fit: {row['tokens_before']} -> {row['tokens_after']} "
              f"tokens (max_frames={row['max_frames']}, max_pixels={row['max_pixels']})")  # fmt: skip
    return 0


def cmd_merge(args) -> int:
    from components.release.merge import merge_checkpoint

    out, diff = merge_checkpoint(args.adapter, args.output)
    print(f"merged into {out} (max |logit diff| vs adapter: {diff:.2e})")
    return 0


def cmd_infer(args) -> int:
    from components.data import media
    from components.release.inference import generate, load_for_inference

    model, processor = load_for_inference(args.checkpoint)
    content = [{"type": "image"} for _ in args.image] + [{"type": "video"} for _ in args.video]
    content.append({"type": "text", "text": args.prompt})
    images = [media.load_image(p) for p in args.image]
    videos = [media.load_video(p, args.num_frames)[0] for p in args.video]
    print(generate(model, processor, [{"role": "user", "content": content}], images, videos, args.max_new_tokens))
    return 0


def clip_reason(reason: str, width: int = 200) -> str:
    """A long reason shortened in the middle, keeping the `@ file:line` at its end."""
    if len(reason) <= width:
        return reason
    at = reason.rfind(" @ ")
    tail = reason[at:] if at >= 0 else ""
    return reason[: max(width - len(tail) - 3, 40)] + "..." + tail


def cmd_sweep(args) -> int:
    from components.matrix import sweep

    def show(row: dict) -> None:
        if not args.json:
            secs = f"{row['seconds']:6.1f}s" if "seconds" in row else " " * 7
            name = row["model_type"] + (" (real)" if row.get("case") == "real" else "")
            print(f"{name:<24} {row['status']:<8} {secs}  {clip_reason(row['reason'])}", flush=True)
            if args.traceback and row.get("traceback"):
                print("    " + row["traceback"].rstrip().replace("\n", "\n    "), flush=True)

    only = [s for s in (args.only or "").split(",") if s] or None
    with stdout_to_stderr(args.json):
        rows = sweep(only, progress=show)
    passed = sorted({r["family"] for r in rows if r["status"] == "pass"})
    failed = sorted({r["family"] for r in rows if r["status"] == "fail"})
    summary = {
        "families_passed": len(passed),
        "families_failed": len(failed),
        "architectures": sum(r.get("case") != "real" for r in rows),
        "real_cases": {  # the families' second run, on their real tokenizer and template (`skip` without ../shared)
            s: sorted(r["family"] for r in rows if r.get("case") == "real" and r["status"] == s)
            for s in ("pass", "fail", "skip")
        },
        "no_entry": sum(r["status"] == "no-entry" for r in rows),
        "passed": passed,
        "failed": failed,
    }
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=2))
    else:
        print(f"\n{len(passed)} families pass, {len(failed)} fail; {summary['no_entry']} architectures have no entry")
    return 1 if failed else 0


def cmd_bench(args) -> int:
    # The benchmark lives outside the library (benchmarks/bench.py); run its module entry, do not import it.
    cmd = [sys.executable, "-m", "benchmarks.bench", *args.extra, *(["--json"] if args.json else [])]
    return subprocess.call(cmd)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(prog="lmms", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("models", help="print the supported-models table")
    m.add_argument("--json", action="store_true")
    m.add_argument("--markdown", action="store_true", help="print docs/supported_models.md")
    m.set_defaults(fn=cmd_models)

    w = sub.add_parser("sweep", help="run the family matrix on every VLM architecture of the installed transformers")
    w.add_argument("--json", action="store_true")
    w.add_argument("--only", help="comma-separated model types or family names")
    w.add_argument("--traceback", action="store_true", help="print each failure's full traceback (--json: always)")
    w.set_defaults(fn=cmd_sweep)

    v = sub.add_parser("validate", help="validate a dataset for a model; non-zero exit names every bad row")
    v.add_argument("data")
    v.add_argument("--config", help="a run config YAML (its data and model sections are used)")
    v.add_argument("--model", help="model id, hub path or local checkpoint (default: the config's)")
    v.add_argument("--image-folder")
    v.add_argument("--video-folder")
    v.set_defaults(fn=cmd_validate)

    g = sub.add_parser("merge", help="merge a LoRA adapter checkpoint into a standalone model")
    g.add_argument("adapter")
    g.add_argument("output")
    g.set_defaults(fn=cmd_merge)

    i = sub.add_parser("infer", help="generate an answer for a prompt with images / videos")
    i.add_argument("checkpoint")
    i.add_argument("--prompt", required=True)
    i.add_argument("--image", action="append", default=[])
    i.add_argument("--video", action="append", default=[])
    i.add_argument("--num-frames", type=int, default=8)
    i.add_argument("--max-new-tokens", type=int, default=64)
    i.set_defaults(fn=cmd_infer)

    b = sub.add_parser("bench", help="training speed and memory: the lmms-finetune way against ours, in one run")
    b.add_argument("--json", action="store_true")
    b.set_defaults(fn=cmd_bench)  # further options (--steps, --samples, ...) go to benchmarks/bench.py

    args, args.extra = p.parse_known_args(argv)
    if args.extra and args.cmd != "bench":
        p.error(f"unrecognized arguments: {' '.join(args.extra)}")
    return args.fn(args)


if __name__ == "__main__":
    raise SystemExit(main())
