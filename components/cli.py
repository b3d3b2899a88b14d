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
from components.noise import quiet_library_noise


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
    from components.config import config_for_data_file, load_config, parse_config

    cfg = load_config(args.config) if args.config else parse_config({})  # a bad config fails before the heavy imports
    from components.data.prepare import prepare_dataset
    from components.data.report import DatasetInvalid
    from components.data.rows import DatasetFileError

    cfg = config_for_data_file(cfg, args.data, args.image_folder, args.video_folder, args.model)
    if not os.path.isfile(args.data):
        print(f"{args.data}: no such file", file=sys.stderr)
        return 1
    from transformers import AutoConfig

    from components.models.loading import ModelRef
    from components.train.loss import head_is_plain
    from components.train.packing import resolve_batching

    try:  # how training would batch these rows; `train.packing: true` on a family that cannot pack fails here
        ref = ModelRef.from_config(cfg.model)
        batching = resolve_batching(cfg.train, ref.entry)
    except ValueError as e:
        print(f"{args.config or 'config'}: {e}", file=sys.stderr)
        return 2
    try:
        dataset, reports = prepare_dataset(cfg)
    except (DatasetInvalid, DatasetFileError) as e:  # every bad row; or the file itself, in one line naming it
        print(str(e), file=sys.stderr)
        return 1
    r = reports[0][1]
    print(f"{args.data}: {r.total} rows, all valid; modalities {r.modality_counts}; duplicates {len(r.duplicates)}")
    print(f"  relative media paths resolved against {r.folders()}")
    for row in r.shrunk:
        print(f"  row {row['index']} (id={row['id']}) shrunk to fit: {row['tokens_before']} -> {row['tokens_after']} "
              f"tokens (max_frames={row['max_frames']}, max_pixels={row['max_pixels']})")  # fmt: skip
    model_cfg = AutoConfig.from_pretrained(ref.path, trust_remote_code=ref.trust_remote_code, revision=ref.revision)
    chunked = cfg.train.chunked_loss and cfg.train.zero_stage != 3 and head_is_plain(model_cfg)
    print(f"  training batches: {batching.mode} ({batching.reason}); loss: {'chunked' if chunked else 'full logits'}")
    return 0


def cmd_labels(args) -> int:
    from components.config import load_config, parse_config
    from components.data.labels import label_records, render_record
    from components.data.report import DatasetInvalid

    cfg = load_config(args.config) if args.config else parse_config({})
    try:
        records = label_records(cfg, args.data, args.limit)
    except DatasetInvalid as e:
        print(str(e), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"rows": [r.to_dict() for r in records]}, indent=2))
        return 0
    color = sys.stdout.isatty()
    for r in records:
        print(render_record(r, color).rstrip("\n"), end="\n\n")
    return 0


def cmd_merge(args) -> int:
    from components.release.merge import merge_checkpoint

    out, diff = merge_checkpoint(args.adapter, args.output)
    print(f"merged into {out} (max |logit diff| vs adapter: {diff:.2e})")
    return 0


def cmd_infer(args) -> int:
    from components.data import media
    from components.release.inference import generate, load_for_inference, resolve_infer_ref

    try:
        path = resolve_infer_ref(args.checkpoint, args.tracking_uri)
    except ValueError as err:
        print(f"lmms infer: {err}", file=sys.stderr)
        return 2
    model, processor = load_for_inference(path)
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


def unknown_sweep_names(only: list[str]) -> str | None:
    """None when every name of `lmms sweep --only` selects something; else what is wrong and the names it takes."""
    import difflib

    from components.matrix import architectures
    from components.models.catalog import FAMILIES, MODELS

    types = sorted(architectures())
    families = sorted({f.name for f in FAMILIES.values() if set(f.model_types) & set(types)})
    unknown = [n for n in only if n not in types and n not in families]
    if not unknown:
        return None
    lines = []
    for name in unknown:
        if name in MODELS:
            hint = f"a model id (of family {MODELS[name].family}); --only takes family names and model types"
        else:
            close = difflib.get_close_matches(name, sorted(set(families + types)), n=3, cutoff=0.6)
            hint = "unknown" + (f" (did you mean {' or '.join(close)}?)" if close else "")
        lines.append(f"--only {name}: {hint}")
    lines += [f"known family names: {', '.join(families)}", f"known model types: {', '.join(types)}"]
    return "\n".join(lines)


def cmd_sweep(args) -> int:
    from components.matrix import sweep

    def show(row: dict) -> None:
        if not args.json:
            secs = f"{row['seconds']:6.1f}s" if "seconds" in row else " " * 7
            name = row["model_type"] + (" (real)" if row.get("case") == "real" else "")
            print(f"{name:<24} {row['status']:<9} {secs}  {clip_reason(row['reason'])}", flush=True)
            if args.traceback and row.get("traceback"):
                print("    " + row["traceback"].rstrip().replace("\n", "\n    "), flush=True)

    only = [s.strip() for s in (args.only or "").split(",") if s.strip()] or None
    if only and (problem := unknown_sweep_names(only)):
        print(problem, file=sys.stderr)
        return 2
    with stdout_to_stderr(args.json):
        rows = sweep(only, progress=show)
    passed = sorted({r["family"] for r in rows if r["status"] == "pass"})
    failed = sorted({r["family"] for r in rows if r["status"] == "fail"})
    known = sorted({r["family"] for r in rows if r["status"] == "known-bug"})
    summary = {
        "families_passed": len(passed),
        "families_failed": len(failed),
        "families_known_bug": len(known),
        "architectures": sum(r.get("case") != "real" for r in rows),
        "real_cases": {  # the families' second run, on their real tokenizer and template (`skip` without ../shared)
            s: sorted(r["family"] for r in rows if r.get("case") == "real" and r["status"] == s)
            for s in ("pass", "fail", "skip")
        },
        "no_entry": sum(r["status"] == "no-entry" for r in rows),
        "passed": passed,
        "failed": failed,
        "known_bug": known,
    }
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=2))
    else:
        print(
            f"\n{len(passed)} families pass, {len(failed)} fail, {len(known)} fail with their known upstream bug; "
            f"{summary['no_entry']} architectures have no entry"
        )
    # a declared upstream bug does not fail the sweep (users run it in their CI); anything else does
    return 1 if failed else 0


def cmd_bench(args) -> int:
    # The benchmark lives outside the library (benchmarks/bench.py); run its module entry, do not import it.
    cmd = [sys.executable, "-m", "benchmarks.bench", *args.extra, *(["--json"] if args.json else [])]
    return subprocess.call(cmd)


def cmd_runs(args) -> int:
    # ZenML stays out of the library (an import-linter contract): run the pipelines' module, do not import it
    return subprocess.call([sys.executable, "-m", "pipelines.runs", *args.extra])


def cmd_ui(args) -> int:
    from components.ui.security import bind_problem

    if problem := bind_problem(args.extra):  # refused at once, before the seconds the app's imports take
        print(f"lmms ui: {problem}", file=sys.stderr)
        return 2
    from components.ui.app import main as ui_main

    return ui_main(args.extra)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    quiet_library_noise()
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
    v.add_argument("--image-folder", help="relative image (and video) paths resolve here (default: the config's "
                   "folder for the config's own data files, else the data file's own folder)")  # fmt: skip
    v.add_argument("--video-folder", help="relative video paths resolve here (default: as --image-folder)")
    v.set_defaults(fn=cmd_validate)

    lb = sub.add_parser(
        "labels", help="what the model is trained on: each row's rendered text, supervised spans marked"
    )
    lb.add_argument("data")
    lb.add_argument("--config", help="a run config YAML (its model, data and train sections are used)")
    lb.add_argument("--json", action="store_true", help="rows with token counts and each answer's supervised text")
    lb.add_argument("--limit", type=int, help="only the first N rows of the file")
    lb.set_defaults(fn=cmd_labels)

    g = sub.add_parser("merge", help="merge a LoRA adapter checkpoint into a standalone model")
    g.add_argument("adapter")
    g.add_argument("output")
    g.set_defaults(fn=cmd_merge)

    i = sub.add_parser("infer", help="generate an answer for a prompt with images / videos")
    i.add_argument("checkpoint", help="checkpoint folder, ZenML artifact (merged_model), models:/<name>@<alias>")
    i.add_argument("--tracking-uri", help="MLflow registry for models:/ (default: $MLFLOW_TRACKING_URI, the stack's)")
    i.add_argument("--prompt", required=True)
    i.add_argument("--image", action="append", default=[])
    i.add_argument("--video", action="append", default=[])
    i.add_argument("--num-frames", type=int, default=8)
    i.add_argument("--max-new-tokens", type=int, default=64)
    i.set_defaults(fn=cmd_infer)

    b = sub.add_parser("bench", help="training speed and memory: the lmms-finetune way against ours, in one run")
    b.add_argument("--json", action="store_true")
    b.set_defaults(fn=cmd_bench)  # further options (--steps, --samples, ...) go to benchmarks/bench.py

    r = sub.add_parser("runs", help="recent pipeline runs; a local run whose process died is marked failed")
    r.set_defaults(fn=cmd_runs)  # options (--limit N, --fail RUN) go to pipelines/runs.py

    u = sub.add_parser("ui", help="the web UI: new runs, runs, data, models, try (127.0.0.1:7860; docs/ui.md)")
    u.set_defaults(fn=cmd_ui)  # options (--host, --port, --auth user:pass, ...) go to components/ui/app.py

    args, args.extra = p.parse_known_args(argv)
    if args.extra and args.cmd not in ("bench", "runs", "ui"):
        p.error(f"unrecognized arguments: {' '.join(args.extra)}")
    try:
        return args.fn(args)
    except ValueError as err:
        from components.config import ConfigError

        if not isinstance(err, ConfigError):
            raise
        print(err, file=sys.stderr)  # every `path: message` of the config, no traceback
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
