"""Shared parts of the tiny recipes: a trained BPE tokenizer, small configs, our chat templates.

Each recipe builds a model from its config class, a byte-level BPE tokenizer trained with `tokenizers`, the family's
own processor and a chat template written by us in the family's format, then `save_pretrained`s all of it. Callers load
the result through the same `from_pretrained` code a real checkpoint takes.
"""

from __future__ import annotations

# Chat templates in each family's format (written here, modelled on what the real checkpoints ship).
CHATML_QWEN_VL = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAVA_1_5 = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

ONEVISION = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{{'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS_WORDS = [
    "the",
    "a",
    "an",
    "is",
    "are",
    "what",
    "which",
    "where",
    "how",
    "many",
    "color",
    "colour",
    "shape",
    "shapes",
    "image",
    "images",
    "picture",
    "video",
    "frame",
    "red",
    "green",
    "blue",
    "yellow",
    "white",
    "black",
    "purple",
    "orange",
    "circle",
    "square",
    "triangle",
    "left",
    "right",
    "top",
    "bottom",
    "up",
    "down",
    "one",
    "two",
    "three",
    "four",
    "five",
    "first",
    "second",
    "third",
    "moving",
    "moves",
    "direction",
    "object",
    "objects",
    "answer",
    "question",
    "yes",
    "no",
    "there",
    "in",
    "on",
    "of",
    "and",
    "or",
    "to",
    "this",
    "that",
    "it",
    "with",
    "you",
    "helpful",
    "assistant",
    "user",
    "system",
    "describe",
    "count",
    "word",
    "repeat",
    "say",
    "number",
    "plus",
    "minus",
    "equals",
    "please",
    "the",
    "color",
    "of",
    "shape",
    "is",
    "on",
    "side",
]


def _corpus() -> list[str]:
    import random

    rng = random.Random(0)
    lines = []
    for _ in range(3000):
        n = rng.randint(3, 14)
        words = [rng.choice(_CORPUS_WORDS) for _ in range(n)]
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + rng.choice([".", "?", "!", ":", "\n"]))
    lines += [str(i) for i in range(200)]
    lines += ["USER: ASSISTANT: system\nuser\nassistant\n"] * 20
    return lines


def train_tokenizer(special: dict[str, str], extra_special: list[str], vocab_size: int = 1000, add_bos: bool = False):
    """A byte-level BPE tokenizer wrapped in PreTrainedTokenizerFast with the family's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys([v for v in special.values() if v] + extra_special))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_corpus(), trainer)
    if add_bos:
        bos = special["bos_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    extra = [t for t in extra_special if t not in special.values()]
    return PreTrainedTokenizerFast(tokenizer_object=tok, extra_special_tokens=extra, **special)


def ids_of(tok, **names: str) -> dict[str, int]:
    return {k: tok.convert_tokens_to_ids(v) for k, v in names.items()}


TEXT_QWEN = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
)


def text_config(tok, model_type: str, **over) -> dict:
    """A tiny decoder config (TEXT_QWEN sizes) wired to `tok`'s vocabulary and special ids."""
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    return {**TEXT_QWEN, "model_type": model_type, "vocab_size": len(tok), **ids, **over}


TINY_VISION = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14
)


def clip_vision(**over) -> dict:
    return {**TINY_VISION, "model_type": "clip_vision_model", "projection_dim": 32, **over}


def siglip_vision(**over) -> dict:
    return {**TINY_VISION, "model_type": "siglip_vision_model", **over}


def wire_special_ids(cfg, tok) -> None:
    """The top-level config's eos / pad / bos ids, as the real checkpoints carry them."""
    cfg.eos_token_id, cfg.pad_token_id, cfg.bos_token_id = tok.eos_token_id, tok.pad_token_id, tok.bos_token_id
