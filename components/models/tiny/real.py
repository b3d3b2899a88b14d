"""Real vocabularies for the tiny checkpoints: family -> the real tokenizer in ../shared/tokenizers, the family's
special tokens at the ids its real checkpoints use, and the real chat template from ../shared/chat_templates.

`../shared` is test data that is never copied into the project; its path comes from one place, `shared_root()`
($LMMS_SHARED, default <repo>/../shared). A tiny checkpoint built on a real vocabulary (build.build_tiny(family,
vocab=...)) has the same random toy model as the BPE one, with the embedding as large as the real vocabulary.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer, processors
from transformers import PreTrainedTokenizerFast

from components.models.tiny.spec import TinySpec
from components.models.tiny.tokenizer import STANDARD

REPO = Path(__file__).resolve().parents[3]


def shared_root() -> Path:
    """The shared test data: $LMMS_SHARED, else <repo>/../shared."""
    return Path(os.environ.get("LMMS_SHARED") or REPO.parent / "shared")


@dataclass(frozen=True)
class RealVocab:
    tokenizer: str  # ../shared/tokenizers/<tokenizer>/
    template: str | None  # ../shared/chat_templates/<template>.json; None: no real template collected, ours is used
    # Family tokens at the ids the real checkpoints give them: inside the vocabulary a placeholder or reserved token
    # is renamed (Qwen's [PADn], Llama 3's <|reserved_special_token_n|>), at its end the token is appended. Tokens
    # the spec names that are neither here nor in the vocabulary are appended after these, in the spec's order.
    ids: dict[str, int] = field(default_factory=dict)

    def tokenizer_dir(self) -> Path:
        return shared_root() / "tokenizers" / self.tokenizer

    def template_file(self) -> Path | None:
        return None if self.template is None else shared_root() / "chat_templates" / f"{self.template}.json"

    def files(self) -> list[Path]:
        """Every shared file the checkpoint is built from (what keys it in the cache)."""
        found = sorted(p for p in self.tokenizer_dir().iterdir() if p.suffix == ".json")
        return found + ([self.template_file()] if self.template else [])

    def missing(self) -> list[Path]:
        paths = [self.tokenizer_dir() / "tokenizer.json", self.template_file()]
        return [p for p in paths if p is not None and not p.exists()]

    def chat_template(self) -> str | None:
        path = self.template_file()
        return None if path is None else json.loads(path.read_text())["chat_template"]


# Qwen2-VL / Qwen2.5-VL (Qwen/Qwen2-VL-7B-Instruct tokenizer_config added_tokens_decoder)
QWEN_VL_IDS = {
    "<|object_ref_start|>": 151646, "<|object_ref_end|>": 151647, "<|box_start|>": 151648, "<|box_end|>": 151649,
    "<|quad_start|>": 151650, "<|quad_end|>": 151651, "<|vision_start|>": 151652, "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654, "<|image_pad|>": 151655, "<|video_pad|>": 151656,
}  # fmt: skip
LLAVA_HF_IDS = {"<image>": 32000, "<pad>": 32001}  # llava-hf/llava-1.5-7b-hf, llava-v1.6-mistral-7b-hf

REAL_VOCABS: dict[str, RealVocab] = {
    "qwen2_vl": RealVocab("qwen2_bpe", "qwen2_vl", QWEN_VL_IDS),
    "qwen2_5_vl": RealVocab("qwen2_bpe", "qwen2_5_vl", QWEN_VL_IDS),
    "llava_onevision": RealVocab("qwen2_bpe", "llava_onevision", {"<image>": 151646, "<video>": 151647}),
    # InternVL3-1B-hf: <img>, </img>, <IMG_CONTEXT> at 151665-151667 (added_tokens.json); <video> is not one of the
    # checkpoint's added tokens as far as we know: it takes the next placeholder (not a checked id)
    "internvl": RealVocab(
        "qwen2_bpe", "internvl3_hf", {"<img>": 151665, "</img>": 151666, "<IMG_CONTEXT>": 151667, "<video>": 151668}
    ),
    "llava": RealVocab("llama2_spm", "llava_1_5", LLAVA_HF_IDS),
    "llava_next": RealVocab("mistral_v1_spm", "llava_next_mistral", LLAVA_HF_IDS),
    # LLaVA-NeXT-Video-7B-hf: <video> 32000, <image> 32001 (shared/tokenizers/llama2_spm/SOURCE.md checks them against
    # the transformers processor test); no real template collected (many differing hub revisions)
    "llava_next_video": RealVocab("llama2_spm", None, {"<video>": 32000, "<image>": 32001}),
    # Video-LLaVA-7B-hf: <image> 32000, <video> 32001 (its config's image/video_token_index); no real template collected
    "video_llava": RealVocab("llama2_spm", None, {"<image>": 32000, "<video>": 32001}),
    "idefics2": RealVocab(
        "mistral_v1_spm",
        "idefics2",
        {"<fake_token_around_image>": 32000, "<image>": 32001, "<end_of_utterance>": 32002},
    ),
    # Idefics3-8B-Llama3: <image> = 128257 (its config's image_token_id); the two around it in Idefics2's order
    "idefics3": RealVocab(
        "llama3_bpe",
        "idefics3",
        {"<fake_token_around_image>": 128256, "<image>": 128257, "<end_of_utterance>": 128258},
    ),
    # Llama-3.2-Vision: Llama 3.1 names for three reserved tokens, <|image|> appended at 128256
    "mllama": RealVocab(
        "llama3_bpe",
        "mllama",
        {"<|finetune_right_pad_id|>": 128004, "<|eom_id|>": 128008, "<|python_tag|>": 128010, "<|image|>": 128256},
    ),
    "gemma3": RealVocab("gemma3", "gemma3"),  # every Gemma 3 token is in the vocabulary already
    "mistral3": RealVocab("mistral_tekken", None),  # [INST], [IMG], ... are Tekken control tokens; no real template
}


def _rename(data: dict, token: str, at: int) -> None:
    """Give id `at` (a placeholder or reserved added token) the name `token`, as a special token."""
    entry = next((a for a in data["added_tokens"] if a["id"] == at), None)
    if entry is None:
        raise ValueError(f"id {at} for {token!r} is inside the vocabulary but not an added (placeholder) token")
    vocab = data["model"].get("vocab")
    if isinstance(vocab, dict) and vocab.get(entry["content"]) == at:
        del vocab[entry["content"]]
        vocab[token] = at
    entry |= {"content": token, "special": True, "normalized": False}


def real_tokenizer(spec: TinySpec, real: RealVocab) -> PreTrainedTokenizerFast:
    """The real tokenizer with the spec's tokens at the real checkpoints' ids (`real.ids`), BOS added where the spec
    says the tokenizer adds it, and the named tokens saved as tokenizer attributes, as train_tokenizer saves them."""
    data = json.loads((real.tokenizer_dir() / "tokenizer.json").read_text())
    vocab = data["model"].get("vocab")
    size = 1 + max([a["id"] for a in data["added_tokens"]] + (list(vocab.values()) if isinstance(vocab, dict) else []))
    for token, at in real.ids.items():
        if at < size:
            _rename(data, token, at)
    tok = Tokenizer.from_str(json.dumps(data))
    for token, at in sorted(real.ids.items(), key=lambda kv: kv[1]):
        if at >= size:
            if at != tok.get_vocab_size():
                raise ValueError(f"{token!r} wants id {at}, but the next free id is {tok.get_vocab_size()}")
            tok.add_special_tokens([token])
    standard = {k: v for k, v in spec.tokens.items() if k in STANDARD and v}
    named = {k: v for k, v in spec.tokens.items() if k not in STANDARD and v}
    wanted = [*standard.values(), *spec.specials, *named.values(), *spec.last_tokens]
    missing = [t for t in dict.fromkeys(wanted) if tok.token_to_id(t) is None]
    if missing:
        tok.add_special_tokens(missing)
    for token, at in real.ids.items():
        if tok.token_to_id(token) != at:
            raise ValueError(f"{token!r} is at id {tok.token_to_id(token)}, want {at} ({real.tokenizer})")
    bos = standard.get("bos_token")
    if spec.add_bos and bos and tok.encode("a").ids[:1] != [tok.token_to_id(bos)]:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    extra = [t for t in dict.fromkeys([*spec.specials, *spec.last_tokens]) if t not in standard.values()]
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, **standard, extra_special_tokens=extra, model_specific_special_tokens=named
    )
