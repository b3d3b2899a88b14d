"""The tiny checkpoints' tokenizer: a byte-level BPE trained in about a second on a small corpus of the words our tests
and the example data use, with the family's special tokens, saved the way real checkpoints save theirs."""

from __future__ import annotations

import random

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

STANDARD = ("bos_token", "eos_token", "unk_token", "pad_token")
WORDS = (  # noqa: SIM905 - a word list reads best as words
    "the a an is are what which where how many color colour shape shapes image images picture video frame "
    "red green blue yellow white black purple orange circle square triangle left right top bottom up down "
    "one two three four five first second third moving moves direction object objects answer question yes "
    "no there in on of and or to this that it with you helpful assistant user system describe count word "
    "repeat say number plus minus equals please the color of shape is on side "
).split()


def corpus() -> list[str]:
    rng = random.Random(0)
    lines = []
    for _ in range(3000):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 14))]
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + rng.choice([".", "?", "!", ":", "\n"]))
    lines += [str(i) for i in range(200)]
    lines += ["USER: ASSISTANT: system\nuser\nassistant\n"] * 20
    return lines


def train_tokenizer(
    tokens: dict[str, str],
    specials: tuple[str, ...] | list[str] = (),
    add_bos: bool = False,
    last: tuple[str, ...] | list[str] = (),
    vocab_size: int = 1000,
) -> PreTrainedTokenizerFast:
    """`tokens`: bos/eos/unk/pad plus named tokens (image_token, ...) that become tokenizer attributes, as processors
    read them; `specials`: more special tokens (turn markers); `last`: specials with the highest ids, in order."""
    standard = {k: v for k, v in tokens.items() if k in STANDARD and v}
    named = {k: v for k, v in tokens.items() if k not in STANDARD and v}
    head = [t for t in dict.fromkeys([*standard.values(), *specials, *named.values()]) if t not in last]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=head, initial_alphabet=alphabet)
    tok.train_from_iterator(corpus(), trainer)
    if last:
        tok.add_special_tokens(list(last))
    if add_bos:
        bos = standard["bos_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    extra = [t for t in dict.fromkeys([*specials, *last]) if t not in standard.values()]
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, **standard, extra_special_tokens=extra, model_specific_special_tokens=named
    )
