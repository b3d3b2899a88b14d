"""Checks on a parsed row (a Sample) against the model: its declared limits (video, images, system prompt), literal
special tokens (rejected or escaped), and the token budget, where a row over max_length may be shrunk to fit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from components.artifacts import Sample
from components.config import DataConfig
from components.data.collator import AllLabelsMasked
from components.data.media import probe_video
from components.data.remote import local_file
from components.data.report import Problem

TokenLength = Callable[[Sample], tuple[int, int]]  # sample -> (num_tokens, num_supervised)


def model_limit(limits: Any, key: str, default: Any = True) -> Any:
    """One of the model's declared limits, from a models.Family or a dict; `default` when it declares none."""
    if limits is None:
        return default
    return limits.get(key, default) if isinstance(limits, dict) else getattr(limits, key, default)


def limit_problems(sample: Sample, limits: Any) -> list[Problem]:
    family = model_limit(limits, "name", None)
    who = f"model family {family!r}" if family else "the model"
    problems = []
    if sample.videos and not model_limit(limits, "video"):
        problems.append(("unsupported_video", f"video input, but {who} does not take videos"))
    if sample.images and not model_limit(limits, "images"):
        problems.append(("unsupported_image", f"image input, but {who} does not take images"))
    elif len(sample.images) > 1 and not model_limit(limits, "multi_image"):
        problems.append(("too_many_images", f"{len(sample.images)} images, but {who} takes one image per row"))
    if sample.system_prompt and not model_limit(limits, "system_prompt"):
        problems.append(("unsupported_system_prompt", f"a system prompt, but {who}'s chat template takes none"))
    return problems


def special_token_problem(sample: Sample, special_tokens: Sequence[str]) -> Problem | None:
    texts = [("system prompt", sample.system_prompt or "")]
    texts += [(f"turn {t} ({role})", text) for t, (role, text) in enumerate(sample.turns)]
    found = [f"{tok!r} in {where}" for where, text in texts for tok in special_tokens if tok and tok in text]
    if found:
        return "special_token", "literal special token(s): " + ", ".join(found)
    return None


ESCAPE = "\u2060"  # WORD JOINER: invisible, and breaks the exact match the tokenizer needs to emit a special token


def escape_special_tokens(text: str, tokens: Sequence[str]) -> str:
    """`<|im_end|>` -> `<\u2060|im_end|>`: the text still reads the same but tokenizes as plain text, so a literal
    special token inside a turn can never become a turn boundary (or a media placeholder)."""
    for tok in sorted((t for t in tokens if len(t) > 1), key=len, reverse=True):
        text = text.replace(tok, tok[0] + ESCAPE + tok[1:])
    return text


def escape_sample(sample: Sample, tokens: Sequence[str]) -> bool:
    """Escape every literal special token in the sample's texts in place; whether anything changed."""
    turns = [(role, escape_special_tokens(text, tokens)) for role, text in sample.turns]
    system = escape_special_tokens(sample.system_prompt, tokens) if sample.system_prompt else sample.system_prompt
    changed = turns != sample.turns or system != sample.system_prompt
    sample.turns, sample.system_prompt = turns, system
    return changed


def _encode_problem(error: ValueError) -> Problem:
    # the collator refuses a row with no supervised token; that is the all-masked case, not a processor failure
    return (error.kind if isinstance(error, AllLabelsMasked) else "encode"), str(error)


def length_problems(sample: Sample, token_length: TokenLength, max_length: int | None) -> list[Problem]:
    try:
        num_tokens, num_supervised = token_length(sample)
    except ValueError as e:
        return [_encode_problem(e)]
    problems = []
    if max_length is not None and num_tokens > max_length:
        problems.append(("too_long", f"{num_tokens} tokens, above max_length={max_length}"))
    if num_supervised == 0:
        problems.append(("all_masked", "no supervised tokens: every label is masked (answer truncated or empty)"))
    return problems


def _media_pixels(sample: Sample) -> int:
    """The largest pixel count among the sample's images and video frames (headers only)."""

    sizes = []
    for path in sample.images:
        with Image.open(local_file(path)) as im:  # a URI: read through $LMMS_CACHE/remote
            sizes.append(im.width * im.height)
    sizes += [(lambda v: v["width"] * v["height"])(probe_video(path)) for path in sample.videos]
    return max(sizes, default=0)


def shrink_to_fit(
    sample: Sample, token_length: TokenLength, max_length: int, data_cfg: DataConfig
) -> tuple[list[Problem], dict[str, Any] | None]:
    """Lower the row's max_frames (halving, videos only), then its max_pixels (halving the area), until its token
    count fits max_length. On success the sample keeps the overrides that fit (preprocessing and training then use
    them) and a record for the report is returned; otherwise the row is rejected with its last count."""
    try:
        num_tokens, num_supervised = token_length(sample)
    except ValueError as e:
        return [_encode_problem(e)], None
    if num_tokens <= max_length or not (sample.images or sample.videos):
        return length_problems(sample, token_length, max_length), None
    before, original = num_tokens, (sample.max_frames, sample.max_pixels)
    frames = sample.max_frames or data_cfg.num_frames
    pixels = min(p for p in (sample.max_pixels, data_cfg.max_pixels, _media_pixels(sample)) if p)

    def attempt(max_frames: int | None, max_pixels: int | None) -> tuple[int, int] | None:
        sample.max_frames, sample.max_pixels = max_frames, max_pixels
        try:
            return token_length(sample)
        except ValueError:
            return None

    tried = []
    while sample.videos and frames > 1 and num_tokens > max_length:  # fewer frames first
        frames = max(1, frames // 2)
        counts = attempt(frames, original[1])
        tried.append(f"max_frames={frames}: {counts[0] if counts else 'error'}")
        if counts:
            num_tokens, num_supervised = counts
    stalls = 0
    while num_tokens > max_length and pixels > 64 and stalls < 2:  # then fewer pixels (until the processor's floor)
        pixels //= 2
        counts = attempt(frames if sample.videos else original[0], pixels)
        tried.append(f"max_pixels={pixels}: {counts[0] if counts else 'error'}")
        if counts:
            stalls = stalls + 1 if counts[0] >= num_tokens else 0
            num_tokens, num_supervised = counts
    if num_tokens > max_length:
        sample.max_frames, sample.max_pixels = original
        reason = f"{before} tokens, above max_length={max_length}; shrinking did not fit ({'; '.join(tried)})"
        return [("too_long", reason)], None
    problems = []
    if num_supervised == 0:
        problems.append(("all_masked", "no supervised tokens: every label is masked (answer truncated or empty)"))
    record = {"index": sample.index, "id": sample.id, "tokens_before": before, "tokens_after": num_tokens,
              "max_frames": sample.max_frames, "max_pixels": sample.max_pixels}  # fmt: skip
    return problems, record
