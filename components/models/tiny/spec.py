"""A family's tiny random checkpoint, as data (one `TINY = TinySpec(...)` per family in tiny/specs/<family>.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Component = tuple[str, dict[str, Any]]  # (transformers class name, constructor kwargs)


@dataclass(frozen=True)
class TinySpec:
    """What build.py needs to build a family's tiny checkpoint; everything not said here is generic.

    The config class's defaults are shrunk (hidden sizes, layers, heads, intermediate sizes: build.SHRINK; per-layer
    `layer_types` / `per_layer_config` cut to the layer count) and `config` overrides are merged on top (a dict
    value merges into that sub-config; one with a `model_type` other than the default's, or where the default is
    None, starts from that type's shrunk defaults; None lets the class derive a key, e.g. from the layer count).
    Token ids are wired from the tokenizer's named tokens: a config key `<name>_id` or `<name>_index` takes the id
    of `tokens["<name>"]` (so `image_token_id` and `image_token_index` both take `tokens["image_token"]`),
    `bos/eos/pad_token_id` (and a private `_pad_token_id`) take the tokenizer's, `vocab_size` its length;
    `token_ids` sets top-level keys not named after a token (`newline_id`, `im_start_id`) to the id of the one token
    their text encodes to. A `config` value may be a callable of the tokenizer (a size or offset that follows the
    trained vocabulary, ids the wiring would not give): the config takes what it returns, over the wiring. The
    processor is `processor(tokenizer=..., chat_template=..., **parts, **processor_kwargs)` with each part built
    from its (class, kwargs).
    """

    config_class: str  # transformers config class, e.g. "LlavaConfig"
    processor: str  # transformers processor class, e.g. "LlavaProcessor"
    template: str  # our chat template in the family's format: tiny/templates/<template>.jinja
    # Named tokens: bos_token / eos_token / pad_token / unk_token, then any other name (image_token, boi_token, ...),
    # saved as tokenizer attributes the way real checkpoints save them, and wired into the config's `<name>_id` keys.
    tokens: dict[str, str]
    specials: tuple[str, ...] = ()  # unnamed special tokens (turn markers)
    last_tokens: tuple[str, ...] = ()  # specials given the highest ids, in order (ids above the text vocabulary)
    add_bos: bool = False  # the tokenizer adds BOS (when the template does not write it)
    config: dict[str, Any] = field(default_factory=dict)  # overrides of the shrunk config
    token_ids: dict[str, str] = field(default_factory=dict)  # top-level config key -> text of one token, e.g. "\n"
    parts: dict[str, Component] = field(default_factory=dict)  # image_processor / video_processor / ...
    processor_kwargs: dict[str, Any] = field(default_factory=dict)
    generation_eos: tuple[str, ...] = ()  # tokens generation stops on (default: the EOS token)
    shrink: bool = True  # False: start from `config` alone, not from the class defaults
    after_init: Callable[[Any], None] | None = None  # edits the fresh random model (e.g. open gates), rarely needed
