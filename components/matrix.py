"""The family matrix: the whole generic path on one family's tiny random checkpoint, stage by stage.

build -> save -> load (the code a real checkpoint takes) -> exact assistant-only labels on single-turn, multi-turn,
system, multi-image, video and text-only rows -> the family's declared limits are enforced by validation -> packing
(where the family declares it): the rows packed into one row give each sample's logits, the loss and the gradients of
the rows padded, with the model's loss and the chunked loss -> LoRA on the LLM and the vision encoder with a fully
trained projector: frozen parameters unchanged, trained ones changed, and 5 steps reduce the loss; then the same
AdamW memorises the rows' short answers (greedy prediction right at every supervised token, by a margin) -> merged
logits equal adapter logits -> `generate` on the merged checkpoint reproduces trained answers exactly.

A failing stage reports `Type: message @ file:line` of the original exception and keeps the full traceback.

`run_matrix` is what tests/test_families.py asserts on and what `lmms sweep` prints for every architecture of the
installed transformers.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from transformers.models.auto import modeling_auto as auto
from transformers.models.auto.configuration_auto import model_type_to_module_name

from components.artifacts import CheckpointMeta
from components.config import DataConfig, TrainConfig
from components.data.collator import IGNORE_INDEX, VLMCollator, apply_template, stop_tokens
from components.data.validate import validate_samples
from components.models.catalog import FAMILIES
from components.models.family import Family
from components.models.loading import load_model, load_processor, upstream_bugs
from components.models.tiny.build import build_tiny, recipe_for, tokenizer_and_template
from components.models.tiny.real import REAL_VOCABS, shared_root
from components.release.inference import generate, load_for_inference
from components.release.merge import merge_checkpoint
from components.train.attention import use_packed_sdpa
from components.train.loss import chunked_loss_applies, model_loss
from components.train.packing import PackingCollator, pad_fraction, supervised_tokens
from components.train.parts import apply_trainable, part_of

STEPS = 5
LOGIT_ATOL = 1e-4
PACKING_REL = 1e-5  # packed == unpacked: loss and gradients, fp32 (as tests/test_packing.py)
PACKING_CHUNK = 7  # the chunked loss's chunk size: several chunks even on the tiny rows
LR = 1e-2  # the train stage's learning rate (LoRA r=4 on tiny models)
MEMORISE_STEPS = 200  # at most, after the STEPS: the tiny models memorise the matrix rows' answers in tens of steps
MEMORISE_MARGIN = 0.1  # the label's logit over the runner-up's at every supervised token: 1000x what merging may move
GENERATE_CHECKS = ("single", "text_only")  # rows whose first answer `generate` must reproduce (those the family has)


@dataclass
class Stage:
    name: str
    ok: bool
    seconds: float
    detail: str = ""  # what the stage saw, or for a failure: `Type: message @ file:line` (`failure_reason`)
    traceback: str = ""  # the full traceback of a failure, causes included
    skipped: bool = False  # the stage does not apply to the family (`detail` says why); not a failure


@dataclass
class MatrixResult:
    family: str
    model_type: str
    passed: bool = False
    stages: list[Stage] = field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0  # the stages' (one-off imports left out: `run_matrix`)
    setup_seconds: float = 0.0  # untimed: warm-up run, module imports, temporary files
    tokenizer: str = ""  # what the checkpoint was built on: "trained BPE" or shared/tokenizers/<name>
    template: str = ""  # its chat template: ours (tiny/templates/...) or the real one (shared/chat_templates/...)

    def to_dict(self) -> dict:
        return asdict(self)


class MatrixFailure(AssertionError):
    pass


class StageSkipped(Exception):
    """A stage that does not apply to the family (its message says why); the run goes on."""


class StepFailure(Exception):
    """A stage's failure in one of its steps (a row kind, a loss), raised from the original error: its reason is the
    original's, prefixed with the step."""

    def __init__(self, step: str, err: BaseException):
        super().__init__(f"{step}: {type(err).__name__}: {err}")
        self.step = step


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise MatrixFailure(msg)


# ---------------------------------------------------------------- failures

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LIBRARY_DIRS = ("site-packages", "dist-packages", "transformers_modules")  # installed libraries, remote model code


def _short_path(filename: str) -> str | None:
    """A project file relative to the project root, a library file relative to its install directory, None for
    the standard library and the import machinery."""
    path = Path(filename)
    parts = path.parts
    for marker in LIBRARY_DIRS:
        if marker in parts:
            k = len(parts) - 1 - parts[::-1].index(marker)
            return "/".join(parts[k + (marker != "transformers_modules") :])
    if path.is_relative_to(PROJECT_ROOT):
        return path.relative_to(PROJECT_ROOT).as_posix()
    return None


def failure_location(err: BaseException) -> str:
    """`file:line` of the innermost project or library frame where `err` was raised (`_check` itself skipped: its
    caller is the check that failed)."""
    frames = traceback.extract_tb(err.__traceback__)
    for f in reversed(frames):
        if f.name == "_check" and f.filename == __file__:
            continue
        short = _short_path(f.filename)
        if short is not None:
            return f"{short}:{f.lineno}"
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def root_cause(err: BaseException) -> BaseException:
    """The exception at the bottom of `err`'s explicit cause chain (`raise ... from`)."""
    seen = {id(err)}
    while err.__cause__ is not None and id(err.__cause__) not in seen:
        err = err.__cause__
        seen.add(id(err))
    return err


def failure_reason(err: BaseException) -> str:
    """`Type: message @ file:line`: the original exception's type and message and where it was raised. A wrapper
    keeps its own text (a known upstream bug's explanation) and names the original where its text does not."""
    if isinstance(err, StepFailure) and err.__cause__ is not None:
        return f"{err.step}: {failure_reason(err.__cause__)}"
    root = root_cause(err)
    text = f"{type(err).__name__}: {err}"
    original = f"{type(root).__name__}: {root}"
    if root is not err and original not in text:
        text += f" (from {type(root).__name__ if str(root) in text else original})"
    return f"{text} @ {failure_location(root)}"


def format_traceback(err: BaseException) -> str:
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


# ---------------------------------------------------------------- rows


def _image(seed: int):
    rng = np.random.default_rng(seed)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    img = Image.new("RGB", (56 + 28 * (seed % 2), 56), colour)
    return img


def _video(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (4, 56, 56, 3), dtype=np.uint8)


def _user(*parts) -> dict:
    content = [{"type": p} if p in ("image", "video") else {"type": "text", "text": p} for p in parts]
    return {"role": "user", "content": content}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def matrix_rows(fam: Family) -> dict[str, dict]:
    """The row kinds the matrix checks, limited to what the family takes."""
    rows = {
        "single": {
            "messages": [_user("image", "What colour is the square?"), _assistant("red")],
            "images": [_image(0)],
        },
        "multi_turn": {
            "messages": [
                _user("image", "What colour is the square?"),
                _assistant("red"),
                _user("And how many are there?"),
                _assistant("one square"),
            ],
            "images": [_image(1)],
        },
        "system": {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Answer with one word."}]},
                _user("image", "What colour?"),
                _assistant("blue"),
            ],
            "images": [_image(2)],
        },
        "text_only": {"messages": [_user("What is two plus two?"), _assistant("four")]},
    }
    if not fam.images:
        rows = {k: v for k, v in rows.items() if not v.get("images")}
    if not fam.system_prompt:
        rows.pop("system")
    if fam.multi_image:
        rows["multi_image"] = {
            "messages": [_user("image", "image", "Which image is red?"), _assistant("the first one")],
            "images": [_image(3), _image(4)],
        }
    if fam.video:
        rows["video"] = {
            "messages": [_user("video", "Where does the square move?"), _assistant("to the left")],
            "videos": [_video(5)],
        }
    for r in rows.values():
        r.setdefault("images", [])
        r.setdefault("videos", [])
    return rows


def _answers(row: dict) -> list[str]:
    return [m["content"][-1]["text"] for m in row["messages"] if m["role"] == "assistant"]


def supervised_runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """Contiguous [start, end) runs of True in a 1-D mask."""
    out: list[tuple[int, int]] = []
    for p in mask.nonzero().flatten().tolist():
        if out and out[-1][1] == p:
            out[-1] = (out[-1][0], p + 1)
        else:
            out.append((p, p + 1))
    return out


def media_token_ids(processor) -> set[int]:
    tok = processor.tokenizer
    ids = set()
    for attr in ("image_token_id", "video_token_id"):
        v = getattr(processor, attr, None)
        if isinstance(v, int):
            ids.add(v)
    for attr in ("image_token", "video_token"):
        v = getattr(processor, attr, None)
        if isinstance(v, str):
            i = tok.convert_tokens_to_ids(v)
            if isinstance(i, int) and i != tok.unk_token_id:
                ids.add(i)
    return ids


def _only_special(tok, text: str) -> bool:
    for special in sorted(tok.all_special_tokens, key=len, reverse=True):
        text = text.replace(special, "")
    return text == ""


def check_labels(processor, batch: dict, rows: list[dict], stops: list[str]) -> None:
    """Exact masks: each assistant turn is one contiguous supervised run that decodes to the answer (plus a leading
    space where the template writes one), then only special tokens the template closes an answer with (Command A:
    `<|END_RESPONSE|>`), ending in a stop marker; nothing else is supervised, no media token ever is, and each run
    starts right after the turn's generation prompt."""
    tok = processor.tokenizer
    ids, labels = batch["input_ids"], batch["labels"]
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    media = media_token_ids(processor)
    for b, row in enumerate(rows):
        sup = labels[b] != IGNORE_INDEX
        _check(torch.equal(labels[b], torch.where(sup, ids[b], IGNORE_INDEX)), "labels differ from input ids")
        _check(not sup[lengths[b] :].any(), "padding is supervised")
        _check(not any(int(t) in media for t in ids[b][sup]), "a media token is supervised")
        runs = supervised_runs(sup)
        answers = _answers(row)
        _check(len(runs) == len(answers), f"{len(runs)} supervised runs for {len(answers)} assistant turns")
        turn_starts = [k for k, m in enumerate(row["messages"]) if m["role"] == "assistant"]
        for (s, e), answer, k in zip(runs, answers, turn_starts, strict=True):
            got = tok.decode(ids[b, s:e]).lstrip(" ")
            stop = next((st for st in stops if got.endswith(st)), None)
            closing = got[len(answer) : len(got) - len(stop or "")]
            ok = stop is not None and got.startswith(answer) and _only_special(tok, closing)
            _check(ok, f"supervised run decodes to {got!r}, want {answer!r} + closing special tokens + one of {stops}")
            prompt = apply_template(processor, row["messages"][:k], add_generation_prompt=True)
            tail = prompt.rstrip()[-12:]
            before = tok.decode(ids[b, :s]).rstrip()
            _check(before.endswith(tail), f"run {got!r} does not follow the generation prompt (...{tail!r})")


# ---------------------------------------------------------------- stages


def label_margin(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The smallest margin, over the supervised tokens, by which the label's logit beats every other token's: positive
    when greedy decoding under teacher forcing reproduces every supervised token."""
    _check(
        logits.shape[:2] == labels.shape, f"logits {tuple(logits.shape)} do not align with labels {tuple(labels.shape)}"
    )
    logits, labels = logits[:, :-1].float(), labels[:, 1:].to(logits.device)
    mask = labels != IGNORE_INDEX
    scores, target = logits[mask], labels[mask][:, None]
    right = scores.gather(1, target).squeeze(1)
    others = scores.scatter(1, target, float("-inf")).max(1).values
    return (right - others).min().item()


def memorise(model, batches: list[dict], lr: float) -> tuple[int, float, float]:
    """Train on `batches` until greedy decoding reproduces every supervised token by MEMORISE_MARGIN: (steps taken,
    margin reached, last loss). Fails after MEMORISE_STEPS. Its own optimizer: Adam moments carried over from steps
    on other batches stalled GLM-4.5V-MoE's tiny model short of the margin on an AMD EPYC CPU (a fresh one memorises
    it in 33 steps there)."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    margin = loss = float("nan")
    for step in range(MEMORISE_STEPS + 1):
        opt.zero_grad()
        outs = [model(**b) for b in batches]
        margin = min(label_margin(o.logits, b["labels"]) for o, b in zip(outs, batches, strict=True))
        total = sum(o.loss for o in outs)
        loss = total.item()
        _check(torch.isfinite(total).item(), f"memorising: loss is {loss} after {step} steps")
        if margin >= MEMORISE_MARGIN:
            return step, margin, loss
        if step < MEMORISE_STEPS:
            total.backward()
            opt.step()
    raise MatrixFailure(f"answers not memorised in {MEMORISE_STEPS} steps: margin {margin:.3f}, loss {loss:.4f}")


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _to_model(batch: dict, model) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(model.device)
            if v.is_floating_point():
                v = v.to(model.dtype)
        out[k] = v
    return out


def _write_media(root: Path) -> None:
    _image(0).save(root / "a.png")
    _image(1).save(root / "b.png")
    with av.open(str(root / "v.mp4"), "w") as c:
        s = c.add_stream("mpeg4", rate=4)
        s.width = s.height = 56
        s.pix_fmt = "yuv420p"
        for f in _video(0):
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())


def check_limits(fam: Family, workdir: Path) -> str:
    """Rows a family cannot take (video, several images) are rejected by validation, with a reason naming it."""

    rows = [
        {
            "image": "a.png",
            "conversations": [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "red"}],
        },
        {
            "video": "v.mp4",
            "conversations": [{"from": "human", "value": "<video>\nWhere?"}, {"from": "gpt", "value": "left"}],
        },
        {
            "image": ["a.png", "b.png"],
            "conversations": [{"from": "human", "value": "<image>\n<image>\nSame?"}, {"from": "gpt", "value": "no"}],
        },
        {"conversations": [{"from": "human", "value": "Two plus two?"}, {"from": "gpt", "value": "four"}]},
        {
            "system_prompt": "Answer with one word.",
            "conversations": [{"from": "human", "value": "Two plus two?"}, {"from": "gpt", "value": "four"}],
        },
    ]
    _write_media(workdir)
    path = workdir / "rows.json"
    path.write_text(json.dumps(rows))
    cfg = DataConfig(train_path=str(path), eval_path=None, image_folder=str(workdir), video_folder=str(workdir))
    _, report = validate_samples(path, cfg, model_limits=fam)
    bad = {i.index: i for i in report.issues}
    expect_bad = {0: not fam.images, 1: not fam.video, 2: not (fam.images and fam.multi_image), 3: False}
    expect_bad[4] = not fam.system_prompt
    for idx, should in expect_bad.items():
        _check((idx in bad) == should, f"row {idx}: rejected={idx in bad}, expected {should} ({bad.get(idx)})")
        if should:
            _check(fam.name in bad[idx].reason, f"row {idx}: reason does not name the family: {bad[idx].reason}")
    return f"rejected rows {sorted(bad)}"


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _loss_and_grads(model, batch: dict, chunked: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss, out = model_loss(model, _to_model(batch, model), chunked=chunked, chunk_size=PACKING_CHUNK)
    loss.backward()
    return loss.detach(), _grads(model), out.logits.detach()


def _compare_packed(which: str, unpacked: tuple, packed: tuple, seq_lens: list[int]) -> str:
    (lu, gu, logits_u), (lp, gp, logits_p) = unpacked, packed
    _check(bool(torch.isfinite(lu)), f"unpacked loss is {lu.item()}")
    if which == "model loss":  # full logits: each sample's own, packed and alone; the first sample that differs names
        s = 0  # the leak (from its token 0: state carried over from the sample before it)
        for b, n in enumerate(seq_lens):
            diff = (logits_p[0, s : s + n] - logits_u[b, :n]).abs().amax(-1)
            bad = (diff > LOGIT_ATOL).nonzero().flatten().tolist()
            if bad:
                raise MatrixFailure(
                    f"sample {b}: packed logits differ by {diff.max().item():.1e} from its token {bad[0]}"
                )
            s += n
    loss_rel = abs(lp - lu).item() / abs(lu).item()
    _check(loss_rel <= PACKING_REL, f"packed {lp.item():.6f} vs unpacked {lu.item():.6f} (rel {loss_rel:.1e})")
    _check(gu.keys() == gp.keys(), f"gradients of {sorted(gu.keys() ^ gp.keys())[:5]} only on one side")
    _check(len(gu) > 10, f"only {len(gu)} tensors have a gradient")
    total = torch.cat([g.flatten() for g in gu.values()]).norm()
    diff = torch.cat([(gp[n] - gu[n]).flatten() for n in gu]).norm()
    grad_rel = (diff / total).item()
    _check(grad_rel <= PACKING_REL, f"gradients differ by rel {grad_rel:.1e} (norm of all)")
    for name in gu:
        # Per tensor too, at 10x the tolerance: one small tensor sums fewer terms and shows more fp32 rounding (Gemma 4
        # vision layer 0: 1.3e-5); the floor covers gradients that are zero in exact arithmetic (attention key
        # biases: softmax ignores a shift) and hold only rounding noise. A real leak is orders of magnitude above.
        d, ref = (gp[name] - gu[name]).norm(), max(gu[name].norm(), 1e-3 * total)
        _check(d <= 10 * PACKING_REL * ref, f"gradient of {name} differs by rel {(d / ref).item():.1e}")
    return f"{which} rel {loss_rel:.0e}, grads {grad_rel:.0e}"


def check_packing(model, collator: VLMCollator, rows: list[dict]) -> str:
    """`rows` packed into one row (PackingCollator; positions from `prepare_packed_inputs` in `model_loss`) give the
    loss and gradients of the same rows padded, within PACKING_REL, with the model's own loss and with the chunked
    loss (as tests/test_packing.py), and each sample's logits within LOGIT_ATOL. The model is left without
    gradients."""
    padded = collator(rows)
    packed = PackingCollator(collator)(rows)
    _check(packed["input_ids"].shape[0] == 1, f"packed into {packed['input_ids'].shape[0]} rows, want 1")
    _check(pad_fraction(packed) == 0.0, f"packed row holds padding ({pad_fraction(packed):.2f})")
    sup = supervised_tokens(packed), supervised_tokens(padded)
    _check(sup[0] == sup[1], f"{sup[0]} supervised tokens packed, {sup[1]} padded")
    starts = torch.cumsum(packed["packed_seq_lens"], 0)[:-1]
    _check(bool((packed["position_ids"][0, starts] == 0).all()), "positions do not restart at every sample")
    seq_lens = packed["packed_seq_lens"].tolist()
    done, unpacked_loss = [], {}
    try:
        for which in ("model loss", "chunked loss"):
            try:
                runs = [_loss_and_grads(model, batch, which == "chunked loss") for batch in (padded, packed)]
                done.append(_compare_packed(which, *runs, seq_lens))
                unpacked_loss[which] = runs[0][0]
            except Exception as err:
                raise StepFailure(which, err) from err
    finally:
        model.zero_grad(set_to_none=True)
    # the chunked loss is the model's own loss (or falls back to it where the head is more than a projection)
    own, chunked = unpacked_loss["model loss"], unpacked_loss["chunked loss"]
    rel = abs(chunked - own).item() / abs(own).item()
    _check(rel <= PACKING_REL, f"chunked loss {chunked.item():.6f} vs the model's own {own.item():.6f} (rel {rel:.1e})")
    done.append(f"chunked == own loss (rel {rel:.0e}{', own head' if not chunked_loss_applies(model) else ''})")
    return f"{len(rows)} rows in 1 ({packed['input_ids'].shape[1]} tokens): " + "; ".join(done)


class Matrix:
    def __init__(self, fam: Family, workdir: Path, build: Callable[[], Path]):
        self.fam, self.workdir, self.build = fam, workdir, build

    def prepare(self, stage: str) -> None:
        """Untimed, before `stage`: import the transformers modules it will use (the family's, then every model type
        the checkpoint names)."""
        if stage == "build":
            import_model_modules(self.fam.model_types)
        elif stage == "load":
            import_model_modules(checkpoint_model_types(self.path))

    def stage_build(self) -> str:
        self.path = self.build()
        n = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return f"{self.path.name} ({n / 1e6:.1f} MB)"

    def stage_load(self) -> str:
        remote = self.fam.remote_code  # the per-model opt-in a user gives such a checkpoint
        self.model, fam = load_model(str(self.path), dtype=torch.float32, trust_remote_code=remote)
        _check(fam.name == self.fam.name, f"checkpoint resolves to family {fam.name}")
        self.processor = load_processor(str(self.path), remote)
        self.stops = stop_tokens(self.processor, self.model.generation_config)
        n = sum(p.numel() for p in self.model.parameters())
        return f"{type(self.model).__name__}, {n / 1e6:.2f}M params"

    def stage_labels(self) -> str:
        rows = matrix_rows(self.fam)
        collator = VLMCollator(self.processor, self.stops)
        for kind, row in rows.items():
            try:
                check_labels(self.processor, collator([row]), [row], self.stops)
            except Exception as err:
                raise StepFailure(kind, err) from err
        self.rows = list(rows.values())
        # One batch of every kind, or one batch per media kind where the family cannot mix image and video rows
        groups = [self.rows]
        if not self.fam.mixed_media_batches:
            groups = [[r for r in self.rows if not r["videos"]], [r for r in self.rows if r["videos"]]]
            groups = [g for g in groups if g]
        self.collator, self.groups = collator, groups
        self.batches = [collator(g) for g in groups]
        for batch, group in zip(self.batches, groups, strict=True):
            check_labels(self.processor, batch, group, self.stops)
        together = "all in one batch" if len(groups) == 1 else "one batch per media kind"
        return f"{', '.join(rows)} (+ {together})"

    def stage_limits(self) -> str:
        return check_limits(self.fam, self.workdir)

    def stage_packing(self) -> str:
        """Packed == unpacked on the matrix rows, on the model as loaded (before any training; eval: no dropout), with
        the attention a packed run uses."""
        if not self.fam.packing:
            raise StageSkipped(f"{self.fam.name} declares packing=False: {self.fam.notes or '(no note)'}")
        self.model.eval()
        attn = use_packed_sdpa(self.model)  # as a packed training run attends (components/train/attention.py)
        details = [check_packing(self.model, self.collator, group) for group in self.groups]
        return f"{attn}; " + "; ".join(details)

    def stage_train(self) -> str:
        cfg = TrainConfig(llm="lora", vision="lora", projector="full", lora={"r": 4, "alpha": 8, "dropout": 0.0})
        torch.manual_seed(0)  # LoRA init independent of what ran before in this process: memorising is init-sensitive
        self.model = apply_trainable(self.model, self.fam, cfg)
        self.model.train()
        before = _snapshot(self.model)
        trainable = {n for n, p in self.model.named_parameters() if p.requires_grad}
        parts = {"llm": 0, "vision": 0, "projector": 0}
        for n in trainable:
            parts[part_of(n.removeprefix("base_model.model."), self.fam)] += 1
        _check(all(parts.values()), f"trainable tensors per part: {parts}")
        opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=LR)
        batches = [_to_model(b, self.model) for b in self.batches]
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            loss = sum(self.model(**b).loss for b in batches)
            _check(torch.isfinite(loss).item(), f"loss is {loss.item()}")
            loss.backward()
            opt.step()
            losses.append(loss.item())
        self.model.eval()
        with torch.no_grad():
            final = sum(self.model(**b).loss.item() for b in batches)
        _check(final < losses[0], f"loss did not fall in {STEPS} steps: {losses[0]:.4f} -> {final:.4f}")
        after = dict(self.model.named_parameters())
        unchanged = [n for n in trainable if torch.equal(before[n], after[n])]
        changed = [n for n in before if n not in trainable and not torch.equal(before[n], after[n])]
        _check(not changed, f"frozen parameters changed: {changed[:5]}")
        # A fully trained part may hold a tensor the model's own forward never reads (HunYuan-VL's `image_sep`): no
        # gradient ever reaches it. That is the model's, not a wiring error; LoRA tensors are ours and must all train.
        unused = [n for n in unchanged if after[n].grad is None and "lora_" not in n]
        unchanged = [n for n in unchanged if n not in unused]
        _check(not unchanged, f"trained parameters unchanged: {unchanged[:5]} (of {len(trainable)})")
        note = f"; unused by the model's forward: {unused}" if unused else ""
        self.model.train()
        # memorise only what `generate` checks (the fewer tokens, the fewer and cheaper the steps: Phi-4-multimodal),
        # each row alone as `generate` sees it (Mllama skips its cross-attention layers for a batch without images)
        rows = matrix_rows(self.fam)
        checked = [_to_model(self.collator([rows[k]]), self.model) for k in GENERATE_CHECKS if k in rows]
        steps, margin, loss = memorise(self.model, checked, LR)
        self.model.eval()
        return (
            f"loss {losses[0]:.3f} -> {final:.3f}; trainable tensors {parts}{note}; "
            f"answers memorised in {STEPS}+{steps} steps (margin {margin:.2f}, loss {loss:.4f})"
        )

    def stage_merge(self) -> str:
        adapter = self.workdir / "adapter"
        self.model.save_pretrained(adapter)
        self.processor.save_pretrained(adapter)
        CheckpointMeta(self.fam.name, str(self.path), is_adapter=True, trust_remote_code=self.fam.remote_code).write(
            adapter
        )
        merged_dir, probe_diff = merge_checkpoint(adapter, self.workdir / "merged", atol=LOGIT_ATOL)
        merged, _ = load_model(str(merged_dir), dtype=torch.float32, trust_remote_code=self.fam.remote_code)
        merged.eval()
        diff = 0.0
        with torch.no_grad():
            for b in self.batches:
                b = _to_model(b, merged)
                diff = max(diff, (merged(**b).logits - self.model(**b).logits).abs().max().item())
        _check(diff <= LOGIT_ATOL, f"merged logits differ from adapter logits by {diff:.2e}")
        self.merged_dir = merged_dir
        return f"max |logit diff| {diff:.1e} (probe {probe_diff:.1e})"

    def stage_generate(self) -> str:
        """Greedy generation on the merged checkpoint reproduces the memorised answers exactly (and stops there)."""
        model, processor = load_for_inference(self.merged_dir)
        rows = matrix_rows(self.fam)
        out = []
        for kind in (k for k in GENERATE_CHECKS if k in rows):
            row = rows[kind]
            first = next(k for k, m in enumerate(row["messages"]) if m["role"] == "assistant")
            answer = _answers(row)[0]
            text = generate(model, processor, row["messages"][:first], row["images"], row["videos"], max_new_tokens=16)
            _check(text == answer, f"{kind}: generated {text!r}, trained on {answer!r}")
            out.append(f"{kind}: {text!r}")
        return "; ".join(out)

    STAGES = ("build", "load", "labels", "limits", "packing", "train", "merge", "generate")


# A model type's transformers modules the stages import: its config, model, processors and tokenizers (not the
# `modular_*` sources, which are for transformers' own code generation).
MODEL_MODULES = (
    "configuration_",
    "modeling_",
    "processing_",
    "image_processing",
    "video_processing_",
    "tokenization_",
    "feature_extraction_",
)


def import_model_modules(model_types) -> None:
    """Import the transformers modules of `model_types` now: a module's first import is a one-off cost of the process,
    not of the stage that happens to import it first. A module that fails to import is left to the stage that needs
    it, which reports the error."""
    for model_type in sorted(set(model_types)):
        name = f"transformers.models.{model_type_to_module_name(model_type)}"
        try:
            package = importlib.import_module(name)
        except ImportError:  # a remote-code model type
            continue
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith(MODEL_MODULES):
                with contextlib.suppress(Exception):
                    importlib.import_module(f"{name}.{info.name}")


def checkpoint_model_types(path: Path) -> set[str]:
    """Every `model_type` in a checkpoint's config.json (the model's and its sub-models': vision tower, LLM)."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("model_type"), str):
                found.add(node["model_type"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    config = Path(path) / "config.json"
    if config.exists():
        walk(json.loads(config.read_text()))
    return found


_warmed = False


def run_matrix(
    family: str,
    workdir: Path | None = None,
    build: Callable[[], Path] | None = None,
    warm_up: bool = True,
    vocab: str | None = None,
) -> MatrixResult:
    """Run every stage for `family`; the first failing stage ends the run with its reason. `vocab`: build the tiny
    checkpoint on that real tokenizer of ../shared/tokenizers with the family's real template (REAL_VOCABS).

    Stage seconds leave out one-off import costs, so that they compare across families and across runs: the first run
    in a process is preceded by an untimed run of the same family (it pays the process's lazy imports and first calls:
    DeepSpeed through accelerate on the first `save_pretrained`, PEFT, pyarrow, PyAV, torch's first backward), and
    before `build` and `load` the family's transformers modules are imported untimed. `seconds` is the sum of the
    stage seconds; `setup_seconds` what was left out."""
    global _warmed
    fam = FAMILIES[family]
    build = build or (lambda: build_tiny(family, vocab=vocab))
    t0 = time.perf_counter()
    if warm_up and not _warmed:
        _warmed = run_matrix(family, build=build, warm_up=False).passed  # else the next family's run warms up
    result = MatrixResult(family, ",".join(fam.model_types))
    result.tokenizer, result.template = tokenizer_and_template(family, vocab)
    with tempfile.TemporaryDirectory(prefix=f"matrix-{family}-") as tmp:
        m = Matrix(fam, Path(workdir or tmp), build)
        for name in Matrix.STAGES:
            with contextlib.suppress(Exception):  # a failure here is the stage's to report
                m.prepare(name)
            s0 = time.perf_counter()
            try:
                with upstream_bugs(fam):
                    detail = getattr(m, f"stage_{name}")()
                result.stages.append(Stage(name, True, time.perf_counter() - s0, detail))
            except StageSkipped as why:
                result.stages.append(Stage(name, True, time.perf_counter() - s0, str(why), skipped=True))
            except Exception as err:  # noqa: BLE001 - reported as the stage's failure
                reason = failure_reason(err)
                result.stages.append(Stage(name, False, time.perf_counter() - s0, reason, format_traceback(err)))
                result.reason = f"{name}: {reason}"
                break
        else:
            result.passed = True
    result.seconds = sum(s.seconds for s in result.stages)
    result.setup_seconds = time.perf_counter() - t0 - result.seconds
    return result


def architectures() -> dict[str, str]:
    """model_type -> class name for every image-text-to-text and multimodal-LM architecture of the installed
    transformers."""

    out = dict(auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)
    for k, v in getattr(auto, "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES", {}).items():
        out.setdefault(k, v)
    return dict(sorted(out.items()))


KNOWN_BUG = "known upstream bug"  # in the reason of a failure matching a family's known_bugs (loading.upstream_bugs)


def sweep_status(fam: Family, res: MatrixResult) -> str:
    """`pass`; `known-bug` where the run failed only with one of the family's declared upstream bugs (the family
    starts passing when a transformers release fixes it); `fail` for any other failure."""
    if res.passed:
        return "pass"
    return "known-bug" if fam.known_bugs and KNOWN_BUG in res.reason else "fail"


def sweep(only: list[str] | None = None, progress: Callable[[dict], None] | None = None) -> list[dict]:
    """One row per architecture: `pass`, `fail` (stage and reason; `traceback` the failing stage's full one),
    `known-bug` (failed with the family's declared upstream bug, see sweep_status), `covered` (another model type of a
    family already run) or `no-entry` (no family covers it)."""

    by_type = {t: f for f in FAMILIES.values() for t in f.model_types}
    rows, done = [], set()
    for model_type, arch in architectures().items():
        fam = by_type.get(model_type)
        if only and model_type not in only and (fam is None or fam.name not in only):
            continue
        row = {"model_type": model_type, "architecture": arch, "family": fam.name if fam else None}
        if fam is None:
            row |= {"status": "no-entry", "reason": "no family entry covers this model_type (docs/add_new_model.md)"}
        elif fam.name in done:
            row |= {"status": "covered", "reason": f"covered by the {fam.name} matrix run"}
        elif recipe_for(fam.name) is None:
            row |= {
                "status": "fail",
                "reason": "family has no tiny spec (components/models/tiny/specs/), so the matrix cannot run offline",
            }
        else:
            done.add(fam.name)
            res = run_matrix(fam.name)
            row |= {
                "status": sweep_status(fam, res),
                "reason": res.reason,
                "traceback": next((s.traceback for s in res.stages if not s.ok), ""),
                "seconds": round(res.seconds, 2),
                "setup_seconds": round(res.setup_seconds, 2),
                "stages": [asdict(s) for s in res.stages],
            }
        cases = [row]
        if fam is not None and row.get("stages") is not None and fam.name in REAL_VOCABS:
            cases.append(real_case(fam.name, {k: row[k] for k in ("model_type", "architecture", "family")}))
        for case in cases:
            case.setdefault("case", "bpe")
            case.setdefault("tokenizer", None)
            case.setdefault("template", None)
            if fam is not None and recipe_for(fam.name) is not None and case["tokenizer"] is None:
                case["tokenizer"], case["template"] = tokenizer_and_template(fam.name)
            rows.append(case)
            if progress:
                progress(case)
    return rows


def shared_missing(family: str) -> str:
    """Why the family's real-vocabulary case cannot run here ("" when it can): ../shared or its files absent."""
    missing = REAL_VOCABS[family].missing()
    if not missing:
        return ""
    return (
        f"real-vocabulary files not found ({', '.join(map(str, missing))}); ../shared is {shared_root()} (LMMS_SHARED)"
    )


def real_case(family: str, row: dict) -> dict:
    """The sweep row of `family` run again on its real tokenizer and template (components/models/tiny/real.py):
    `skip` with the reason where ../shared is absent."""
    vocab = REAL_VOCABS[family].tokenizer
    row = dict(row, case="real")
    row["tokenizer"], row["template"] = tokenizer_and_template(family, vocab)
    why = shared_missing(family)
    if why:
        return row | {"status": "skip", "reason": why}
    res = run_matrix(family, vocab=vocab)
    return row | {
        "status": "pass" if res.passed else "fail",
        "reason": res.reason,
        "traceback": next((s.traceback for s in res.stages if not s.ok), ""),
        "seconds": round(res.seconds, 2),
        "setup_seconds": round(res.setup_seconds, 2),
        "stages": [asdict(s) for s in res.stages],
    }
