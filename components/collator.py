"""One processor-driven collator for every family.

Assistant-only labels come from the model's own chat template by prefix difference: for each assistant turn k,
P = render(messages[:k], add_generation_prompt=True) and F = render(messages[:k+1]); the characters F - P are the
answer as the template writes it. Both must be prefixes of the full rendering R, so every span maps onto R. Spans are
trimmed to end at the last stop token (the `\\n` after `<|im_end|>` is never generated); a template that emits no stop
token after answers (LLaVA-1.5) gets the EOS token inserted after the answer, so the model learns to stop.

The processor expands media placeholders on the whole batch in one call; each supervised span is then located in the
expanded ids by aligning them with the unexpanded tokenization (answers never contain media, so they survive
expansion unchanged). Every span is verified token by token; anything that does not line up raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from os.path import commonprefix

import torch

IGNORE_INDEX = -100


class TemplateError(ValueError):
    pass


@dataclass
class Rendered:
    text: str
    spans: list[tuple[int, int]]  # character spans of supervised text in `text`


def stop_tokens(processor, generation_config=None) -> list[str]:
    """The strings that end a generated answer: the tokenizer's EOS plus the generation config's eos ids."""
    tok = processor.tokenizer
    ids: list[int] = []
    if generation_config is not None and generation_config.eos_token_id is not None:
        eos = generation_config.eos_token_id
        ids = list(eos) if isinstance(eos, (list, tuple)) else [eos]
    out = [tok.eos_token] if tok.eos_token else []
    out += [tok.convert_ids_to_tokens(i) for i in ids]
    return [s for s in dict.fromkeys(out) if s]


def closing_suffix(processor, messages: list[dict]) -> str:
    """What the template writes once at the end of a rendering without a generation prompt (Phi-4-multimodal: EOS
    after the last turn). It is the tail of that rendering, from the first token where it parts from the rendering
    with the generation prompt; empty for templates that only append the generation prompt."""
    plain = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    gen = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    n = len(commonprefix([plain, gen]))
    if n == len(plain):
        return ""
    offsets = processor.tokenizer(plain, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    start = min((a for a, b in offsets if b > n), default=n)  # back to the start of the token the renderings part in
    return plain[min(start, n) :]


def render(processor, messages: list[dict], stops: Sequence[str]) -> Rendered:
    def tmpl(msgs, gen):
        return processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

    full = tmpl(messages, False)
    first = next((k for k, m in enumerate(messages) if m["role"] == "assistant"), 0)
    closing = closing_suffix(processor, messages[:first]) if first else ""
    spans: list[tuple[int, int]] = []
    for k, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prompt, through = tmpl(messages[:k], True), tmpl(messages[: k + 1], False)
        if closing and through.endswith(closing):  # written once at the end of a rendering: not part of the turn
            through = through[: -len(closing)]
        if not (through.startswith(prompt) and full.startswith(through)):
            raise TemplateError(
                f"chat template does not render turn {k} as a prefix of the conversation; "
                "prefix-diff labels cannot be derived for this template"
            )
        answer = through[len(prompt) :]
        for s in stops:
            answer = answer.replace(s, "")
        if not answer.strip():  # e.g. string content under a template that only renders list content (LLaVA)
            raise TemplateError(f"chat template renders assistant turn {k} with no answer text")
        spans.append((len(prompt), len(through)))

    # Trim each span to its last stop token, take the stop token that directly follows it, or insert EOS after the
    # answer where the template emits none.
    text, out, shift = full, [], 0
    for start, end in spans:
        start, end = start + shift, end + shift
        seg = text[start:end]
        cut = max((seg.rfind(s) + len(s) for s in stops if s in seg), default=-1)
        if cut >= 0:
            out.append((start, start + cut))
            continue
        # The stop token right after the answer, written by the template as the opening of the next turn (Molmo 2:
        # the user's `<|im_end|>\n` closes the previous answer): supervise that one instead of inserting another.
        follows = next((s for s in stops if text.startswith(s, end)), None)
        if follows:
            out.append((start, end + len(follows)))
            continue
        eos = processor.tokenizer.eos_token
        if not eos:
            raise TemplateError("template emits no stop token after answers and the tokenizer has no EOS token")
        at = start + len(seg.rstrip())
        text = text[:at] + eos + text[at:]
        shift += len(eos)
        out.append((start, at + len(eos)))
    return Rendered(text, out)


def _adds_special_tokens(processor, text: str) -> bool:
    """Tokenizer specials (BOS) are added unless the template already wrote them."""
    bos = processor.tokenizer.bos_token
    return not (bos and text.startswith(bos))


def _raw_tokens(tokenizer, text: str, add_special: bool) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
    return enc["input_ids"], enc["offset_mapping"]


def supervised_positions(raw_ids, offsets, spans, expanded_ids) -> list[int]:
    """Positions in `expanded_ids` of the raw tokens that fall inside `spans` (character ranges)."""
    sup = []
    for i, (a, b) in enumerate(offsets):
        for s, e in spans:
            if s <= a and b <= e and b > a:
                sup.append(i)
            elif a < e and s < b and b > a:
                raise TemplateError(f"token {i} straddles a label boundary: the prompt's tokens are not a prefix")
    if not sup:
        return []
    mapping: dict[int, int] = {}
    for blk in SequenceMatcher(None, raw_ids, expanded_ids, autojunk=False).get_matching_blocks():
        for d in range(blk.size):
            mapping[blk.a + d] = blk.b + d
    missing = [i for i in sup if i not in mapping]
    if missing:
        raise TemplateError(f"{len(missing)} supervised tokens could not be located after media expansion")
    return [mapping[i] for i in sup]


class VLMCollator:
    """Turns rows {"messages", "images", "videos"} into a padded batch with assistant-only labels."""

    def __init__(self, processor, stops: Sequence[str] | None = None, max_length: int | None = None):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.stops = list(stops) if stops else stop_tokens(processor)
        self.max_length = max_length

    def encode_texts(self, rows: Sequence[dict]) -> list[Rendered]:
        return [render(self.processor, r["messages"], self.stops) for r in rows]

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        rendered = self.encode_texts(rows)
        texts = [r.text for r in rendered]
        add_special = _adds_special_tokens(self.processor, texts[0])
        kwargs: dict = {}
        if any(r.get("images") for r in rows):
            kwargs["images"] = [list(r.get("images") or []) for r in rows]
        if any(r.get("videos") for r in rows):
            kwargs["videos"] = [v for r in rows for v in (r.get("videos") or [])]
            kwargs["do_sample_frames"] = False
        # Right padding, passed to the call: a processor's own default text kwargs (InternVL: left) override the
        # tokenizer attribute.
        self.tokenizer.padding_side = "right"
        kwargs["padding_side"] = "right"
        batch = self.processor(text=texts, padding=True, return_tensors="pt", add_special_tokens=add_special, **kwargs)
        ids = batch["input_ids"]
        labels = torch.full_like(ids, IGNORE_INDEX)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        for b, rend in enumerate(rendered):
            row_ids = ids[b, : lengths[b]].tolist()
            if self.max_length is not None and lengths[b] > self.max_length:
                raise ValueError(
                    f"row {rows[b].get('index', b)}: {lengths[b]} tokens exceed max_length={self.max_length} "
                    "(validation should have rejected it; media tokens are never truncated)"
                )
            raw_ids, offsets = _raw_tokens(self.tokenizer, rend.text, add_special)
            pos = supervised_positions(raw_ids, offsets, rend.spans, row_ids)
            if not pos:
                raise ValueError(f"row {rows[b].get('index', b)}: every label is masked (no assistant tokens)")
            labels[b, pos] = ids[b, pos]
        batch["labels"] = labels
        return dict(batch)
