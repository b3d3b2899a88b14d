"""`lmms bench`: training speed and memory of our default config (b) against the lmms-finetune way (a) and against
padding to the longest row of the batch (c, what HF's and TRL's collators do), measured in one run.

Same tiny Qwen2-VL (LoRA on the LLM, projector trained, fp32, CPU), same generated data (text-only rows, 1-4 images
of varied sizes, videos, short and long answers, some multi-turn), same sample order, same number of steps:

  (a) lmms-finetune: every sample padded to `model_max_length`; media decoded from the source files on every access;
      the model's own loss over full logits;
  (b) our default: the training path a RunConfig with no batching or loss keys resolves to for this model
      (`components.train.packing.resolve_batching`: padding-free packing for a family that packs, else length-grouped
      batches; packed rows on sdpa attend per sample, `components.train.attention`; the chunked cross-entropy over
      supervised positions only at the default chunk size); media read from the preprocessed cache;
  (c) pad to the longest row of the batch (dynamic padding, as DataCollatorForSeq2Seq and TRL's collators): no
      packing, the model's own loss over full logits; media read from the preprocessed cache, as in (b), so (b)/(c)
      is what packing and the chunked loss add over today's common practice.

The headline is (b)/(c) supervised tokens/s; (b)/(a) and the pad fraction of (b) are reported with it.

Each arm runs in a fresh subprocess. Peak memory is the rise of the process's resident-set high-water mark
(VmHWM, reset through /proc/self/clear_refs) over its resident set when the arm starts, so it covers everything the
arm allocates. Data wait is the time the training loop spends in `next(dataloader)`, as a share of step time.

The loss-memory figure runs the two losses alone (again one subprocess each) on random hidden states at a 151,936-
token vocabulary (Qwen2's), with a frozen LM head as under LoRA and with a trained one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCAB_150K = 151_936

WORDS = [
    "the",
    "a",
    "is",
    "of",
    "shape",
    "color",
    "red",
    "green",
    "blue",
    "yellow",
    "left",
    "right",
    "square",
    "circle",
    "triangle",
    "moves",
    "image",
    "video",
    "frame",
    "first",
    "second",
    "there",
    "one",
    "two",
    "three",
    "and",
    "it",
    "on",
    "in",
    "to",
    "with",
    "that",
    "this",
    "which",
    "where",
    "how",
    "many",
    "answer",
]


# ----------------------------------------------------------------------------------------------------- memory


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak() -> int:
    """Reset the resident-set high-water mark; returns the current resident set (bytes)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def peak_since(rss0: int) -> int:
    return _status("VmHWM") - rss0


# ------------------------------------------------------------------------------------------------------- data


def make_data(workdir: Path, n: int, seed: int = 0) -> list[dict]:
    """Deterministic rows with a realistic spread of lengths and media (written under workdir/media)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    media = workdir / "media"
    media.mkdir(parents=True, exist_ok=True)
    images = []
    for k in range(24):
        w, h = rng.choice([(56, 56), (112, 84), (160, 120), (224, 224), (84, 168)])
        im = Image.new("RGB", (w, h), tuple(rng.randint(0, 80) for _ in range(3)))
        d = ImageDraw.Draw(im)
        for _ in range(3):
            x, y = rng.randint(0, w - 20), rng.randint(0, h - 20)
            d.rectangle((x, y, x + 19, y + 19), fill=tuple(rng.randint(100, 255) for _ in range(3)))
        p = media / f"img_{k:03d}.png"
        im.save(p)
        images.append(str(p))
    videos = []
    for k, src in enumerate(sorted((ROOT / "example_data" / "media" / "train").glob("vid_*.mp4"))[:8]):
        p = media / f"vid_{k:03d}.mp4"
        shutil.copyfile(src, p)
        videos.append(str(p))

    def words(lo, hi):
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    def answer():
        return words(1, 3) if rng.random() < 0.6 else words(40, 160)  # short and long answers

    rows = []
    for i in range(n):
        kind = rng.choices(["text", "image", "multi", "video", "multiturn"], [0.15, 0.35, 0.2, 0.15, 0.15])[0]
        imgs, vids = [], []
        if kind == "image" or kind == "multiturn":
            imgs = [rng.choice(images)]
        elif kind == "multi":
            imgs = rng.sample(images, rng.randint(2, 4))
        elif kind == "video" and videos:
            vids = [rng.choice(videos)]
        prefix = "<image>\n" * len(imgs) + "<video>\n" * len(vids)
        turns = [("user", prefix + words(4, 20) + "?"), ("assistant", answer())]
        if kind == "multiturn":
            for _ in range(rng.randint(1, 2)):
                turns += [("user", words(3, 12) + "?"), ("assistant", answer())]
        rows.append({"index": i, "turns": turns, "images": imgs, "videos": vids})
    return rows


def bench_model(workdir: Path, hidden: int = 256, layers: int = 4) -> str:
    """The tiny Qwen2-VL checkpoint with a wider, deeper LLM (4.4M parameters at the defaults). In every real VLM the
    LLM carries most of the FLOPs; in the 64-wide test checkpoint the vision tower and per-step overheads dominate,
    which would hide what padding costs. The processor, tokenizer and vision tower are the test checkpoint's."""
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    from components.models.tiny.build import build_tiny

    tiny = build_tiny("qwen2_vl")
    cfg = AutoConfig.from_pretrained(tiny)
    text = cfg.text_config
    text.hidden_size, text.intermediate_size, text.num_hidden_layers = hidden, 4 * hidden, layers
    text.num_attention_heads, text.num_key_value_heads = 4, 2
    text.layer_types = ["full_attention"] * layers
    head_dim = hidden // 4
    text.rope_parameters["mrope_section"] = [head_dim // 8, 3 * head_dim // 16, 3 * head_dim // 16]  # sums to hd/2
    cfg.vision_config.hidden_size = hidden  # Qwen2-VL's merger writes LLM-width features
    out = workdir / "model"
    AutoModelForImageTextToText.from_config(cfg).save_pretrained(out)
    AutoProcessor.from_pretrained(tiny).save_pretrained(out)
    return str(out)


def prepare(workdir: Path, n: int) -> dict:
    """Data, tiny model, media cache and the padded length for (a); written to workdir/spec.json."""
    import torch

    from components.artifacts import Sample
    from components.data.collator import VLMCollator
    from components.data.media import load_image, load_video
    from components.data.media_cache import MediaSettings, preprocess
    from components.data.rows import to_messages
    from components.models.loading import load_processor

    rows = make_data(workdir, n)
    torch.manual_seed(0)
    model_path = bench_model(workdir)
    settings = MediaSettings(num_frames=8)
    t0 = time.perf_counter()
    cache = preprocess(
        sorted({p for r in rows for p in r["images"]}),
        sorted({p for r in rows for p in r["videos"]}),
        settings,
        workdir / "cache",
        workers=1,
        progress=False,
    )
    preprocess_s = time.perf_counter() - t0
    collator = VLMCollator(load_processor(model_path))
    lengths = []
    for r in rows:
        s = Sample(r["index"], None, None, r["turns"], r["images"], r["videos"])
        row = {
            "messages": to_messages(s),
            "images": [load_image(p) for p in s.images],
            "videos": [load_video(p, settings.num_frames)[0] for p in s.videos],
        }
        lengths.append(int(collator([row])["input_ids"].shape[1]))
    max_length = 1 << (max(lengths) - 1).bit_length()  # model_max_length: the power of two above the longest
    spec = {
        "rows": rows,
        "model_path": model_path,
        "cache": cache.mapping,
        "max_length": max_length,
        "lengths": lengths,
        "preprocess_s": preprocess_s,
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    return spec


# ------------------------------------------------------------------------------------------------------ arms


class PadToMaxLength:
    """lmms-finetune's batches: every row padded to model_max_length."""

    def __init__(self, collator, max_length: int):
        self.collator, self.max_length = collator, max_length

    def __call__(self, rows):
        import torch

        from components.data.batching import fill_value

        batch = self.collator(rows)
        extra, pad_token_id = self.max_length - batch["input_ids"].shape[1], self.collator.pad_token_id
        for k in ("input_ids", "attention_mask", "labels", "mm_token_type_ids"):
            if k in batch:
                batch[k] = torch.nn.functional.pad(batch[k], (0, extra), value=fill_value(k, pad_token_id))
        return batch


def default_path(fam) -> dict:
    """What the default RunConfig resolves to for `fam`: batching mode and reason, chunked loss, chunk size, pack
    budget (arm b trains exactly this)."""
    from components.config import RunConfig
    from components.train.packing import resolve_batching

    train = RunConfig().train
    b = resolve_batching(train, fam)
    return {
        "batching": b.mode,
        "packing": b.packing,
        "group_by_length": b.group_by_length,
        "reason": b.reason,
        "chunked_loss": train.chunked_loss,
        "loss_chunk_size": train.loss_chunk_size,
        "pack_max_tokens": train.pack_max_tokens,
    }


def run_arm(arm: str, workdir: Path, steps: int, batch_size: int, workers: int) -> dict:
    import torch
    from torch.utils.data import DataLoader
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from components.artifacts import Sample
    from components.config import TrainConfig
    from components.data import media
    from components.data.collator import VLMCollator, stop_tokens
    from components.data.media_cache import load_cached_image, load_cached_video
    from components.models.loading import load_model, load_processor
    from components.train.attention import use_packed_sdpa
    from components.train.loss import chunked_loss_applies, model_loss
    from components.train.packing import PackingCollator, pad_fraction, supervised_tokens
    from components.train.parts import apply_trainable
    from components.train.recipe import RowsDataset

    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec = json.loads((workdir / "spec.json").read_text())
    samples = [
        Sample(r["index"], None, None, [tuple(t) for t in r["turns"]], r["images"], r["videos"]) for r in spec["rows"]
    ]
    rss0 = reset_peak()
    model, fam = load_model(spec["model_path"], dtype=torch.float32, attn_implementation="sdpa")
    processor = load_processor(spec["model_path"])
    path = default_path(fam) if arm == "b" else None
    if path:  # as the recipe: packed rows on sdpa attend per sample (components/train/attention.py)
        path["attention"] = use_packed_sdpa(model) if path["packing"] else model.config._attn_implementation
    model = apply_trainable(model, fam, TrainConfig())
    collator = VLMCollator(processor, stop_tokens(processor, model.generation_config))
    mapping = spec["cache"]
    cached = RowsDataset(samples, lambda p: load_cached_image(mapping[p]), lambda p: load_cached_video(mapping[p])[0])
    sampler, chunk_size = None, TrainConfig().loss_chunk_size
    if arm == "a":  # lmms-finetune: static padding, media decoded on every access, full logits
        ds = RowsDataset(samples, media.load_image, lambda p: media.load_video(p, 8)[0])
        collate, chunked = PadToMaxLength(collator, spec["max_length"]), False
    elif arm == "c":  # HF / TRL: pad to the longest row of the batch, full logits
        ds, collate, chunked = cached, collator, False
    else:  # our default config's path, as resolved for this family
        ds, collate = cached, collator
        if path["packing"]:
            collate = PackingCollator(collator, path["pack_max_tokens"])
        if path["group_by_length"]:  # as LmmsTrainer samples (components/train/trainer.py)
            sampler = LengthGroupedSampler(batch_size, lengths=spec["lengths"])
        chunked, chunk_size = path["chunked_loss"], path["loss_chunk_size"]
        path["loss"] = "chunked" if chunked and chunked_loss_applies(model) else "full_logits"
    loader = DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        drop_last=True,
    )
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def batches():
        while True:
            yield from loader

    it = batches()
    warmup = 1
    wait = total = 0.0
    sup = slots = real = 0
    losses = []
    for step in range(steps + warmup):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        n_sup, pad, n_slots = supervised_tokens(batch), pad_fraction(batch), batch["input_ids"].numel()
        loss, _ = model_loss(model, batch, chunked=chunked, chunk_size=chunk_size)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        losses.append(float(loss))
        if step >= warmup:
            wait += t1 - t0
            total += t2 - t0
            sup += n_sup
            slots += n_slots
            real += round(n_slots * (1 - pad))
    return {
        "steps": steps,
        "batch_size": batch_size,
        **({"default_path": path} if path else {}),
        "supervised_tokens": sup,
        "token_slots": slots,
        "seconds": total,
        "supervised_tokens_per_s": sup / total,
        "pad_fraction": 1 - real / slots,
        "data_wait_share": wait / total,
        "peak_memory_mb": peak_since(rss0) / 2**20,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }


def run_loss(kind: str, vocab: int, tokens: int, hidden: int, head_trainable: bool, chunk_size: int) -> dict:
    import torch

    from components.data.collator import IGNORE_INDEX
    from components.train.loss import chunked_cross_entropy, full_logits_cross_entropy

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(1, tokens, hidden, generator=g).requires_grad_(True)
    w = (torch.randn(vocab, hidden, generator=g) * 0.02).requires_grad_(head_trainable)
    labels = torch.randint(0, vocab, (1, tokens), generator=g)
    labels[torch.rand(1, tokens, generator=g) > 0.3] = IGNORE_INDEX  # ~30% supervised, as in chat data
    rss0 = reset_peak()
    t0 = time.perf_counter()
    if kind == "full":
        loss = full_logits_cross_entropy(h, w, labels)
    else:
        loss = chunked_cross_entropy(h, w, labels, chunk_size=chunk_size)
    loss.backward()
    return {"peak_mb": peak_since(rss0) / 2**20, "loss": float(loss), "seconds": time.perf_counter() - t0}


# ----------------------------------------------------------------------------------------------------- driver


def _sub(args: list[str]) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"  # large buffers are mmapped and returned on free: RSS tracks live memory
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench subprocess {args} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_bench(
    steps: int = 12,
    batch_size: int = 8,
    samples: int = 96,
    workers: int = 1,
    chunk_size: int = 256,
    loss_tokens: int = 2048,
    loss_hidden: int = 896,
    workdir: Path | None = None,
) -> dict:
    import tempfile

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="lmms-bench-")
        workdir = Path(tmp.name)
    try:
        spec = prepare(workdir, samples)
        common = ["--workdir", str(workdir), "--steps", str(steps), "--batch-size", str(batch_size)]
        common += ["--workers", str(workers)]
        a, b, c = (_sub(["--arm", arm, *common]) for arm in ("a", "b", "c"))
        loss = {}
        for trainable in (False, True):
            shape = ["--vocab", str(VOCAB_150K), "--tokens", str(loss_tokens), "--hidden", str(loss_hidden)]
            shape += ["--chunk-size", str(chunk_size)] + (["--head-trainable"] if trainable else [])
            full, chunked = _sub(["--loss", "full", *shape]), _sub(["--loss", "chunked", *shape])
            loss["head_trainable" if trainable else "head_frozen"] = {
                "full_logits_peak_mb": full["peak_mb"],
                "chunked_peak_mb": chunked["peak_mb"],
                "ratio": chunked["peak_mb"] / full["peak_mb"],
                "loss_abs_diff": abs(full["loss"] - chunked["loss"]),
            }
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {
        "setup": {
            "model": "tiny qwen2_vl, LLM widened to 256 x 4 layers (LoRA on the LLM, projector trained), fp32, CPU, "
            "1 thread",
            "samples": samples,
            "sample_tokens": {
                "min": min(spec["lengths"]),
                "max": max(spec["lengths"]),
                "mean": sum(spec["lengths"]) / len(spec["lengths"]),
            },
            "model_max_length_a": spec["max_length"],
            "steps": steps,
            "batch_size": batch_size,
            "dataloader_workers": workers,
            "media_preprocess_s": spec["preprocess_s"],
            "loss_shape": {"vocab": VOCAB_150K, "tokens": loss_tokens, "hidden": loss_hidden, "chunk_size": chunk_size},
        },
        "a_lmms_finetune": a,
        "b_default": b,
        "c_pad_to_longest": c,
        "headline_b_over_c_supervised_tokens_per_s": b["supervised_tokens_per_s"] / c["supervised_tokens_per_s"],
        "ratios_b_over_c": ratios(b, c),
        "ratios_b_over_a": ratios(b, a),
        # the issue's targets (docs/benchmarks.md), and whether this run met them
        "targets": {
            "b_over_c_supervised_tokens_per_s": {
                "target": 1.5,
                "met": b["supervised_tokens_per_s"] >= 1.5 * c["supervised_tokens_per_s"],
            },
            "b_over_a_supervised_tokens_per_s": {
                "target": 3.0,
                "met": b["supervised_tokens_per_s"] >= 3 * a["supervised_tokens_per_s"],
            },
            "b_pad_fraction": {"target": 0.03, "met": b["pad_fraction"] <= 0.03},
        },
        "loss_memory_150k_vocab": loss,
    }


def ratios(b: dict, other: dict) -> dict:
    """(b) over another arm, figure by figure (None where the other arm's figure is 0)."""

    def q(key):
        return b[key] / other[key] if other[key] else None

    return {
        "supervised_tokens_per_s": q("supervised_tokens_per_s"),
        "pad_fraction": q("pad_fraction"),
        "peak_memory": q("peak_memory_mb"),
        "data_wait_share": q("data_wait_share"),
    }


def format_table(r: dict) -> str:
    a, b, c = r["a_lmms_finetune"], r["b_default"], r["c_pad_to_longest"]
    qa, qc = r["ratios_b_over_a"], r["ratios_b_over_c"]
    s, path = r["setup"], b["default_path"]
    lines = [
        f"{s['model']}; {s['samples']} samples of {s['sample_tokens']['min']}-{s['sample_tokens']['max']} tokens "
        f"(mean {s['sample_tokens']['mean']:.0f}); {s['steps']} steps x {s['batch_size']} samples; "
        f"(a) pads to {s['model_max_length_a']}",
        f"(b) = the default config: batching {path['batching']} ({path['reason']}), attention {path['attention']}, "
        f"loss {path['loss']}" + (f" (chunk {path['loss_chunk_size']})" if path["loss"] == "chunked" else ""),
        f"{'':24}{'(a) lmms-finetune':>18}{'(c) pad-to-longest':>20}{'(b) default':>13}{'b/c':>8}{'b/a':>8}",
    ]

    def fmt(v, spec):
        return format(v, spec) if v is not None else "-"

    for key, label, spec in [
        ("supervised_tokens_per_s", "supervised tokens/s", ".1f"),
        ("pad_fraction", "pad fraction", ".3f"),
        ("peak_memory_mb", "peak memory (MB)", ".0f"),
        ("data_wait_share", "data wait / step time", ".3f"),
    ]:
        rk = key.replace("_mb", "")
        lines.append(
            f"{label:24}{a[key]:>18{spec}}{c[key]:>20{spec}}{b[key]:>13{spec}}"
            f"{fmt(qc.get(rk), '.3f'):>8}{fmt(qa.get(rk), '.3f'):>8}"
        )
    ls = s["loss_shape"]
    lines.append(
        f"loss memory at vocab {ls['vocab']}, {ls['tokens']} tokens, hidden {ls['hidden']}, chunk {ls['chunk_size']}:"
    )
    for k, v in r["loss_memory_150k_vocab"].items():
        lines.append(
            f"  {k:14} full logits {v['full_logits_peak_mb']:7.0f} MB   chunked {v['chunked_peak_mb']:6.0f} MB   "
            f"ratio {v['ratio']:.3f}   |loss diff| {v['loss_abs_diff']:.1e}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lmms bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--samples", type=int, default=96)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--chunk-size", type=int, default=256, help="chunk of the loss-memory figure (arm b: the default)")
    p.add_argument("--loss-tokens", type=int, default=2048)
    p.add_argument("--loss-hidden", type=int, default=896, help="896: the LM head of Qwen2-0.5B (LLaVA-OneVision-0.5B)")
    # internal: one arm / one loss in this (sub)process
    p.add_argument("--arm", choices=["a", "b", "c"], help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--loss", choices=["full", "chunked"], help=argparse.SUPPRESS)
    p.add_argument("--vocab", type=int, default=VOCAB_150K, help=argparse.SUPPRESS)
    p.add_argument("--tokens", type=int, default=2048, help=argparse.SUPPRESS)
    p.add_argument("--hidden", type=int, default=896, help=argparse.SUPPRESS)
    p.add_argument("--head-trainable", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.workdir, args.steps, args.batch_size, args.workers)))
        return 0
    if args.loss:
        print(
            json.dumps(run_loss(args.loss, args.vocab, args.tokens, args.hidden, args.head_trainable, args.chunk_size))
        )
        return 0
    from components.cli import stdout_to_stderr

    with stdout_to_stderr(args.json):
        r = run_bench(
            args.steps, args.batch_size, args.samples, args.workers, args.chunk_size, args.loss_tokens, args.loss_hidden
        )
    print(json.dumps(r, indent=2) if args.json else format_table(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
