"""One processor-driven collator for every family.

Assistant-only labels come from the model's own chat template by prefix difference: for each assistant turn k,
P = render(messages[:k], add_generation_prompt=True) and F = render(messages[:k+1]); the characters F - P are the
answer as the template writes it. Both must be prefixes of one rendering R, so every span maps onto R; templates that
rewrite history (Qwen3.5 thinking, Gemma 4 thinking off) get one sequence per turn instead (see render_sequences).
Spans end at the first stop token after the answer (the `\\n` after `<|im_end|>` is never generated); a template that
emits no stop token after answers (LLaVA-1.5) gets the EOS token inserted after the answer, so the model learns to stop,
unless the next turn opens with a stop token (GLM's `<|user|>`), then supervised as the real model generates it.

The processor expands media placeholders on the whole batch in one call; each supervised span is then located in the
expanded ids by aligning them with the unexpanded tokenization (answers never contain media, so they survive
expansion unchanged). Every span is verified token by token; anything that does not line up raises.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Protocol, runtime_checkable

import torch
from transformers import AutoConfig, GenerationConfig

from components.data.batching import IGNORE_INDEX, pad_id, process_batch


class TemplateError(ValueError):
    pass


class AllLabelsMasked(TemplateError):
    """A row with no supervised token: no assistant turn, or every answer token is masked."""

    kind = "all_masked"  # the validation issue kind


@dataclass
class Rendered:
    text: str
    spans: list[tuple[int, int]]  # character spans of supervised text in `text`
    num_messages: int = 0  # the sequence renders messages[:num_messages] (selects its media)


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


def checkpoint_stop_tokens(
    processor, path: str, revision: str | None = None, trust_remote_code: bool = False
) -> list[str]:
    """`stop_tokens` with the checkpoint's generation config, read without loading weights: its
    generation_config.json, else (as `from_pretrained` does for the model) one derived from its config.json. The one
    source of stop tokens for validation's token count and the training collator, so both count a row alike."""
    try:
        gen = GenerationConfig.from_pretrained(path, revision=revision)
    except OSError:  # no generation_config.json: what the loaded model's generation_config would be
        config = AutoConfig.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
        gen = GenerationConfig.from_model_config(config)
    return stop_tokens(processor, gen)


# How a chat template reads `content` is a property of the template: most render HF list content (text and media
# parts), some render a role's content as a plain string (Gemma 4 and Llama 3.2 Vision's long template write a system
# message as `messages[0]['content'] | trim`, which turns list content into its Python repr). A probe conversation
# with list content tells which roles those are; their text-only messages are then given as plain strings.
PROBE_ROLES = ("system", "user", "assistant")
_string_roles: dict[str, frozenset[str]] = {}


def _probe_text(role: str) -> str:
    return f"lmms probe {role} text"


def _probe(processor, roles: Sequence[str], as_list: bool) -> str:
    def content(role: str):
        text = _probe_text(role)
        return [{"type": "text", "text": text}] if as_list else text

    msgs = [{"role": r, "content": content(r)} for r in roles]
    return processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)


def _renders_text(rendered: str, role: str) -> bool:
    text = _probe_text(role)
    return text in rendered and repr(text) not in rendered


def string_content_roles(processor) -> frozenset[str]:
    """The roles whose list content the processor's chat template does not render as text (it writes the list's
    repr, or nothing), where plain-string content does render: found once per template by rendering a probe
    conversation (with a system message where the template takes one) both ways."""
    template = getattr(processor, "chat_template", None)
    key = template if isinstance(template, str) else None  # cached by the template's text
    if key is not None and key in _string_roles:
        return _string_roles[key]
    found: frozenset[str] = frozenset()
    for roles in (PROBE_ROLES, PROBE_ROLES[1:]):
        try:
            as_list = _probe(processor, roles, as_list=True)
        except Exception:  # noqa: BLE001 - a template may refuse list content outright (it reads strings only)
            as_list = ""
        try:
            as_str = _probe(processor, roles, as_list=False)
        except Exception:  # noqa: BLE001 - or a system message, or string content: try the next probe
            as_str = ""
        if as_list or as_str:
            found = frozenset(r for r in roles if not _renders_text(as_list, r) and _renders_text(as_str, r))
            break
    if key is not None:
        _string_roles[key] = found
    return found


def template_messages(processor, messages: list[dict]) -> list[dict]:
    """`messages` in the shape the processor's chat template reads: a text-only message of a role whose list content
    the template does not render (string_content_roles) becomes plain-string content. A message with media in such a
    role cannot be rendered faithfully: TemplateError. Training, validation and inference all render through here."""
    roles = string_content_roles(processor)
    if not roles:
        return messages
    out = []
    for k, m in enumerate(messages):
        content = m.get("content")
        if m.get("role") in roles and isinstance(content, list):
            if any(p.get("type") != "text" for p in content):
                kinds = sorted({p.get("type") for p in content if p.get("type") != "text"})
                raise TemplateError(
                    f"message {k}: the chat template renders {m['role']} content as a plain string, so a "
                    f"{m['role']} message with {'/'.join(map(str, kinds))} cannot be rendered"
                )
            m = dict(m, content="".join(p.get("text", "") for p in content))
        out.append(m)
    return out


def apply_template(processor, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The processor's chat template rendered on `messages` in the content shape it reads (template_messages); raises
    TemplateError where the rendering still holds the Python repr of one of our content parts."""
    text = processor.apply_chat_template(
        template_messages(processor, messages), tokenize=False, add_generation_prompt=add_generation_prompt
    )
    for k, m in enumerate(messages):
        parts = m.get("content") if isinstance(m.get("content"), list) else []
        for part in parts:
            if repr(part) in text or json.dumps(part) in text:
                raise TemplateError(f"message {k}: the chat template renders the content object {part!r} as text")
    return text


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def render_sequences(processor, messages: list[dict], stops: Sequence[str]) -> list[Rendered]:
    """The training sequences of one conversation, each with its supervised answer spans.

    Templates that render history the way they render a fresh answer give one sequence for all turns. Templates that
    rewrite earlier turns once a later one exists (Qwen3.5 drops earlier think blocks) give one sequence per group of
    turns that render alike; a generation prompt that writes what history never contains (Gemma 4's empty thought
    channel when thinking is off) gives that turn its own sequence, the prompt exactly as at inference followed by the
    answer. A trailing EOS a template appends to every rendering (Phi-4) is not part of a turn.
    """

    rendered: dict[tuple[int, bool], str] = {}

    def tmpl(msgs, gen):  # messages[:n] are rendered once per n (the last turn's `through` is also `full`)
        key = (len(msgs), gen)
        if key not in rendered:
            rendered[key] = apply_template(processor, msgs, gen)
        return rendered[key]

    eos = processor.tokenizer.eos_token
    assistant = [k for k, m in enumerate(messages) if m["role"] == "assistant"]
    if not assistant:
        raise AllLabelsMasked("every label is masked: the conversation has no assistant turn")
    pending, sequences = list(assistant), []
    while pending:
        last = pending[-1]
        full = tmpl(messages[: last + 1], False)
        covered, spans = [], []
        for k in pending:
            prompt, through = tmpl(messages[:k], True), tmpl(messages[: k + 1], False)
            if k != last and eos and through.endswith(eos) and not full.startswith(through):
                through = through[: -len(eos)]
            if through.startswith(prompt) and full.startswith(through):
                covered.append(k)
                spans.append((len(prompt), len(through)))
        if last not in covered:
            prompt, through = tmpl(messages[:last], True), tmpl(messages[: last + 1], False)
            answer = through[_common_prefix(prompt, through) :]
            if not answer.strip():
                raise TemplateError(f"chat template renders assistant turn {last} with no answer text")
            full, covered, spans = prompt + answer, [last], [(len(prompt), len(prompt) + len(answer))]
        for (start, end), k in zip(spans, covered, strict=True):
            answer = full[start:end]
            for st in stops:
                answer = answer.replace(st, "")
            if not answer.strip():  # e.g. string content under a template that only renders list content (LLaVA)
                raise TemplateError(f"chat template renders assistant turn {k} with no answer text")
        sequences.append(_trim(processor, full, spans, stops, last + 1))
        pending = [k for k in pending if k not in covered]
    return sequences[::-1]


def _trim(processor, text: str, spans: list[tuple[int, int]], stops: Sequence[str], num_messages: int) -> Rendered:
    """End each span at the first stop marker after the answer (the `\\n` after `<|im_end|>` and anything a template
    appends after it are never generated), or insert EOS after the answer where the template emits none."""
    out, shift = [], 0
    for start, end in spans:
        start, end = start + shift, end + shift
        seg = text[start:end]
        cut = min((seg.find(s) + len(s) for s in stops if s in seg), default=-1)
        if cut >= 0:
            out.append((start, start + cut))
            continue
        nxt = next((s for s in stops if text.startswith(s, end)), None)
        if nxt:  # the stop token right after the answer, written as the opening of the next turn (GLM `<|user|>`,
            # Molmo 2 `<|im_end|>`): supervise that one instead of inserting another
            out.append((start, end + len(nxt)))
            continue
        eos = processor.tokenizer.eos_token
        if not eos:
            raise TemplateError("template emits no stop token after answers and the tokenizer has no EOS token")
        at = start + len(seg.rstrip())
        text = text[:at] + eos + text[at:]
        shift += len(eos)
        out.append((start, at + len(eos)))
    return Rendered(text, out, num_messages)


def render(processor, messages: list[dict], stops: Sequence[str]) -> Rendered:
    """The single training sequence of a conversation; raises when the template needs several (see render_sequences)."""
    seqs = render_sequences(processor, messages, stops)
    if len(seqs) != 1:
        raise TemplateError(
            f"chat template does not render the turns as a prefix of one conversation ({len(seqs)} sequences needed)"
        )
    return seqs[0]


def _media_counts(messages: list[dict]) -> tuple[int, int]:
    parts = [p for m in messages if isinstance(m["content"], list) for p in m["content"]]
    return sum(p.get("type") == "image" for p in parts), sum(p.get("type") == "video" for p in parts)


def adds_special_tokens(tokenizer, text: str) -> bool:
    """Whether to tokenize a chat-template rendering with the tokenizer's specials (BOS): yes, unless the template
    already wrote them. Training (VLMCollator), the merge probe and inference all decide it here."""
    bos = tokenizer.bos_token
    return not (bos and text.startswith(bos))


def inference_prompt(tokenizer, prompt: str) -> str:
    """The generation prompt as training tokenized it. Where the tokenizer joins the prompt's trailing spaces to the
    first answer token (ERNIE's `Assistant: ` + `red` -> ` red`), the collator supervises that joined token, so the
    model learned to generate it; a prompt ending in the lone space token would ask for a continuation it never saw.
    Those spaces are then left for the model to write."""
    stripped = prompt.rstrip(" ")
    if stripped == prompt:
        return prompt
    alone = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    probe = tokenizer(prompt + "red", add_special_tokens=False)["input_ids"]
    return prompt if probe[: len(alone)] == alone else stripped


def _raw_tokens(tokenizer, text: str, add_special: bool) -> tuple[list[int], list[tuple[int, int]]]:
    enc = tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
    return enc["input_ids"], enc["offset_mapping"]


def supervised_positions(raw_ids, offsets, spans, expanded_ids, text: str | None = None) -> list[int]:
    """Positions in `expanded_ids` of the raw tokens that fall inside `spans` (character ranges). A token that joins
    the generation prompt's trailing whitespace to the answer ("Assistant: " + "red" -> " red") is supervised."""
    sup = []
    for i, (a, b) in enumerate(offsets):
        for s, e in spans:
            inside = s <= a and b <= e and b > a
            joins_prompt_space = text is not None and a < s < b <= e and not text[a:s].strip()
            if inside or joins_prompt_space:
                sup.append(i)
            elif a < e and s < b and b > a:
                raise TemplateError(f"token {i} straddles a label boundary: the prompt's tokens are not a prefix")
    if not sup:
        return []
    if expanded_ids is raw_ids:  # nothing was expanded: every raw token is where it was
        return sup
    mapping: dict[int, int] = {}
    for blk in SequenceMatcher(None, raw_ids, expanded_ids, autojunk=False).get_matching_blocks():
        for d in range(blk.size):
            mapping[blk.a + d] = blk.b + d
    missing = [i for i in sup if i not in mapping]
    if missing:
        raise TemplateError(f"{len(missing)} supervised tokens could not be located after media expansion")
    return [mapping[i] for i in sup]


@runtime_checkable
class Collator(Protocol):
    """What a collator offers, and what a wrapper (MediaBalancingCollator, PackingCollator) reads from the collator it
    wraps and offers in turn, so wrappers compose in any order: the processor and tokenizer that encode the rows, the
    id padded input positions hold, and the call from dataset rows to a batch of tensors."""

    processor: Any
    tokenizer: Any
    pad_token_id: int

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]: ...


class VLMCollator:
    """Turns rows {"messages", "images", "videos"} into a padded batch with assistant-only labels."""

    def __init__(self, processor, stops: Sequence[str] | None = None, max_length: int | None = None):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.pad_token_id = pad_id(self.tokenizer)
        self.stops = list(stops) if stops else stop_tokens(processor)
        self.max_length = max_length

    def sequences(self, rows: Sequence[dict]) -> list[tuple[int, Rendered, dict]]:
        """(row position, rendering, row with the media that rendering shows) for every training sequence."""
        out = []
        for b, row in enumerate(rows):
            try:
                seqs = render_sequences(self.processor, row["messages"], self.stops)
            except TemplateError as err:
                raise type(err)(f"row {row.get('index', b)}: {err}") from None
            for rend in seqs:
                if len(seqs) == 1:
                    out.append((b, rend, row))
                    continue
                n_img, n_vid = _media_counts(row["messages"][: rend.num_messages])
                sub = dict(
                    row, images=list(row.get("images") or [])[:n_img], videos=list(row.get("videos") or [])[:n_vid]
                )
                out.append((b, rend, sub))
        return out

    def __call__(self, rows: Sequence[dict]) -> dict[str, torch.Tensor]:
        seqs = self.sequences(rows)
        texts = [rend.text for _, rend, _ in seqs]
        items = [item for _, _, item in seqs]
        add_special = adds_special_tokens(self.tokenizer, texts[0])
        # Right padding, passed per call too: some processors (Aya Vision) default their text kwargs to left padding.
        self.tokenizer.padding_side = "right"
        batch = process_batch(self.processor, texts, items, add_special)
        ids = batch["input_ids"]
        labels = torch.full_like(ids, IGNORE_INDEX)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        for b, (row_pos, rend, item) in enumerate(seqs):
            where = f"row {item.get('index', row_pos)}"
            row_ids = ids[b, : lengths[b]].tolist()
            if self.max_length is not None and lengths[b] > self.max_length:
                raise ValueError(
                    f"{where}: {lengths[b]} tokens exceed max_length={self.max_length} "
                    "(validation should have rejected it; media tokens are never truncated)"
                )
            raw_ids, offsets = _raw_tokens(self.tokenizer, rend.text, add_special)
            pos = supervised_positions(raw_ids, offsets, rend.spans, row_ids, rend.text)
            if not pos:
                raise AllLabelsMasked(f"{where}: every label is masked (no assistant tokens)")
            labels[b, pos] = ids[b, pos]
        batch["labels"] = labels
        return dict(batch)
