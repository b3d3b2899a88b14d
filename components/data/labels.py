"""What the model is trained on, row by row (`lmms labels`): each validated row through the training collator, its
supervised tokens decoded per assistant turn.

Nothing here re-implements training: the rows are the samples validation prepares (`prepare_dataset`: escaped, shrunk,
invalid rows refused or dropped by the run's policy), the media are loaded as preprocessing loads them, the batch is
the `VLMCollator`'s with the stop tokens validation and training share (`run_stop_tokens`), and the supervised text is
the collator's labels decoded.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from components.artifacts import Sample
from components.config import RunConfig
from components.data.batching import IGNORE_INDEX
from components.data.collator import VLMCollator
from components.data.prepare import batch_token_counts, collator_row, prepare_dataset, run_stop_tokens
from components.data.rows import read_rows
from components.models.loading import ModelRef

GREEN, RESET = "\033[32m", "\033[0m"
MEDIA_RUN = 4  # a token repeated this many times or more (media placeholders after expansion) is shown once, counted


@dataclass
class Supervised:
    # the answer's position among the row's user / assistant turns (0 = the first user turn), as validation's messages
    # number turns; the `conversations` index unless the row opens with a system turn
    turn: int
    text: str  # the supervised tokens of that answer, decoded (answer + the template's closing tokens)


@dataclass
class Piece:
    text: str
    supervised: bool


@dataclass
class LabelRecord:
    index: int  # the row's position in the data file
    tokens: int  # the longest training sequence of the row (what must fit max_length), media tokens included
    supervised_tokens: int
    supervised: list[Supervised] = field(default_factory=list)
    # the row's training sequences as decoded pieces, supervised or not (the terminal view; not in the JSON)
    sequences: list[list[Piece]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "tokens": self.tokens,
            "supervised_tokens": self.supervised_tokens,
            "supervised": [asdict(s) for s in self.supervised],
        }


def _runs(flags: list[bool]) -> list[tuple[int, int, bool]]:
    """(start, end, flag) of each maximal run of equal flags."""
    out, start = [], 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            out.append((start, i, flags[start]))
            start = i
    return out


def _decode_shown(tokenizer, ids: list[int]) -> str:
    """Unsupervised text as shown: long runs of one token (expanded media placeholders) collapsed to `tok×N`."""
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j < len(ids) and ids[j] == ids[i]:
            j += 1
        if j - i >= MEDIA_RUN:
            parts.append(f"{tokenizer.decode([ids[i]], skip_special_tokens=False)}×{j - i}")
            i = j
            continue
        k = i
        while k < len(ids) and not (k + MEDIA_RUN <= len(ids) and len(set(ids[k : k + MEDIA_RUN])) == 1):
            k += 1
        parts.append(tokenizer.decode(ids[i:k], skip_special_tokens=False))
        i = k
    return "".join(parts)


def _turns(sample: Sample, seqs: list) -> list[list[int]]:
    """The turn (index in sample.turns) of each supervised span of each training sequence. A sequence renders
    messages[:num_messages] and supervises that conversation's last answer; a row rendered as one sequence supervises
    every answer, in order (see collator.render_sequences). A sequence with several spans among several sequences
    takes its last answer and the earliest answers that end no sequence and no later sequence took."""
    offset = 1 if sample.system_prompt else 0  # messages[0] is the system prompt, not a turn
    answers = [k for k, (role, _) in enumerate(sample.turns) if role == "assistant"]
    lasts = [rend.num_messages - offset - 1 for _, rend, _ in seqs]
    pending, out = list(answers), []
    for (_, rend, _), last in zip(reversed(seqs), reversed(lasts), strict=True):
        if last not in pending:
            raise ValueError(f"row {sample.index}: a training sequence ends on turn {last}, no answer")
        pending.remove(last)
        others = [k for k in pending if k < last and k not in lasts][: len(rend.spans) - 1]
        for k in others:
            pending.remove(k)
        out.append(sorted([*others, last]))
    if pending:
        raise ValueError(f"row {sample.index}: answers {pending} are in no training sequence")
    return out[::-1]


def label_record(collator: VLMCollator, sample: Sample, cfg: RunConfig) -> LabelRecord:
    """One row through the training collator: its token counts, supervised text per answer and decoded sequences."""
    row = collator_row(sample, cfg)
    seqs = collator.sequences([row])
    batch = collator([row])
    tokens, supervised_tokens = batch_token_counts(batch)
    tok = collator.tokenizer
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    record = LabelRecord(sample.index, tokens, supervised_tokens)
    for b, turns in enumerate(_turns(sample, seqs)):
        ids = batch["input_ids"][b, : lengths[b]].tolist()
        flags = (batch["labels"][b, : lengths[b]] != IGNORE_INDEX).tolist()
        runs = _runs(flags)
        spans = [(s, e) for s, e, sup in runs if sup]
        if len(spans) != len(turns):
            raise ValueError(
                f"row {sample.index}: {len(spans)} supervised runs in training sequence {b}, {len(turns)} answers"
            )
        for turn, (s, e) in zip(turns, spans, strict=True):
            record.supervised.append(Supervised(turn, tok.decode(ids[s:e], skip_special_tokens=False)))
        record.sequences.append(
            [
                Piece(tok.decode(ids[s:e], skip_special_tokens=False) if sup else _decode_shown(tok, ids[s:e]), sup)
                for s, e, sup in runs
            ]
        )
    record.supervised.sort(key=lambda x: x.turn)
    return record


def _with_rows(cfg: RunConfig, data: str | Path, limit: int | None, base: Path, tmp: Path) -> RunConfig:
    """The config validating `data` alone (no eval split); with `limit`, only its first rows (same indices)."""
    path = Path(data)
    if limit is not None:
        head = tmp / f"first-{limit}-{path.stem}.json"
        head.write_text(json.dumps(read_rows(base / path)[:limit]))
        path = head
    data_cfg = cfg.data.model_copy(update={"train_path": str(path), "eval_path": None})
    return cfg.model_copy(update={"data": data_cfg})


def label_records(cfg: RunConfig, data: str | Path, limit: int | None = None, base: Path | None = None):
    """The LabelRecord of every row of `data` the run would train on (its first `limit` rows with a limit): validated
    under the run's policy (`data.on_invalid: fail` raises DatasetInvalid naming every bad row; `drop` leaves them
    out), then collated as training collates them."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    with tempfile.TemporaryDirectory(prefix="lmms-labels-") as tmp:
        run = _with_rows(cfg, data, limit, base or Path.cwd(), Path(tmp))
        dataset, _ = prepare_dataset(run, base)
    ref = ModelRef.from_config(cfg.model)
    processor = ref.load_processor()
    collator = VLMCollator(processor, run_stop_tokens(ref, processor), cfg.train.max_length)
    return [label_record(collator, s, cfg) for s in dataset.train]


def render_record(record: LabelRecord, color: bool) -> str:
    """A row as text: its counts, then each training sequence with the supervised text green (`color`) or within
    [[...]] (no colour)."""
    head = f"row {record.index}: {record.tokens} tokens, {record.supervised_tokens} supervised"
    lines = [head]
    for n, seq in enumerate(record.sequences):
        if len(record.sequences) > 1:
            lines.append(f"-- sequence {n + 1} of {len(record.sequences)}")
        shown = "".join(
            (f"{GREEN}{p.text}{RESET}" if color else f"[[{p.text}]]") if p.supervised else p.text for p in seq
        )
        lines.append(shown)
    return "\n".join(lines)
