"""Build (or reuse) a family's tiny random checkpoint offline, from its TinySpec: the config class's defaults shrunk to
toy sizes plus the spec's overrides, a trained BPE tokenizer with the family's named tokens wired into the config, the
family's own processor and our chat template in the family's format, all `save_pretrained` into a directory keyed by
what built it. Callers load it through the same `from_pretrained` code a real checkpoint takes."""

from __future__ import annotations

import copy
import hashlib
import importlib
import inspect
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoConfig

from components.config import cache_root
from components.models.catalog import FAMILIES
from components.models.tiny import real as real_module
from components.models.tiny import spec as spec_module
from components.models.tiny import tokenizer as tokenizer_module
from components.models.tiny.real import REAL_VOCABS, RealVocab, real_tokenizer
from components.models.tiny.spec import TinySpec
from components.models.tiny.tokenizer import train_tokenizer

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Toy sizes for the config keys every family shares; a key is shrunk only where its default is larger.
SHRINK_TEXT = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    head_dim=16, moe_intermediate_size=32, shared_expert_intermediate_size=32, num_experts=4, num_local_experts=4,
    n_routed_experts=4, num_experts_per_tok=2,
)  # fmt: skip
SHRINK_VISION = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
    head_dim=16, depth=2, num_heads=2, embed_dim=32,
)  # fmt: skip


def spec_for(family: str) -> TinySpec | None:
    try:
        return importlib.import_module(f"components.models.tiny.specs.{family}").TINY
    except ModuleNotFoundError:
        return None


def recipe_for(family: str, vocab: str | None = None) -> Callable[[Path], None] | None:
    """How to build the family's tiny checkpoint from its spec (on the real vocabulary `vocab`: a tokenizer in
    ../shared/tokenizers, see real.REAL_VOCABS); None where it has none."""
    spec = spec_for(family)
    if spec is None or family not in FAMILIES:
        return None
    real = real_vocab(family, vocab)
    return lambda out: build_from_spec(FAMILIES[family].auto_class, spec, out, real)


def real_vocab(family: str, vocab: str | None) -> RealVocab | None:
    """The family's REAL_VOCABS entry for the shared tokenizer `vocab` (None: the trained BPE); raises where the family
    has no such entry or the shared files are missing."""
    if vocab is None:
        return None
    real = REAL_VOCABS.get(family)
    if real is None or real.tokenizer != vocab:
        have = real.tokenizer if real else "none"
        raise ValueError(
            f"family {family!r} has no real-vocabulary build on {vocab!r} (components/models/tiny/real.py: {have})"
        )
    if real.missing():
        raise FileNotFoundError(f"shared files missing for {family} on {vocab}: {[str(p) for p in real.missing()]}")
    return real


def _shrunk(values: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any]:
    out = dict(values)
    for key, size in sizes.items():
        if isinstance(out.get(key), int) and not isinstance(out[key], bool) and out[key] > size:
            out[key] = size
    layers = out.get("num_hidden_layers")
    if isinstance(out.get("layer_types"), list) and isinstance(layers, int):
        out["layer_types"] = out["layer_types"][:layers]
    if isinstance(out.get("per_layer_config"), dict) and isinstance(layers, int):  # per-layer overrides, by index
        out["per_layer_config"] = {k: v for k, v in out["per_layer_config"].items() if int(k) < layers}
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base` (dicts recursively); a sub-config of another model_type than the default's (or where
    the default has none) starts from that type's shrunk defaults."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and (isinstance(out.get(key), dict) or "model_type" in value):
            sub = out.get(key) or {}
            if "model_type" in value and value["model_type"] != sub.get("model_type"):
                sub = _shrunk(AutoConfig.for_model(value["model_type"]).to_dict(), _sizes(key))
            out[key] = _merge(sub, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _sizes(sub_config: str) -> dict[str, int]:
    return SHRINK_TEXT if "text" in sub_config or "llm" in sub_config else SHRINK_VISION


def _wire_tokens(values: dict[str, Any], tokens: dict[str, str], tok, text: bool) -> None:
    """`<name>_id` / `<name>_index` keys take the ids of the spec's named tokens (bos/eos/pad: the tokenizer's, None
    where it has none); the vocabulary size (in the text config and at the top only) is the tokenizer's. A value the
    spec gives as a callable is left for `_resolve`."""
    named = {name: tok.convert_tokens_to_ids(value) for name, value in tokens.items()}
    named |= {"bos_token": tok.bos_token_id, "eos_token": tok.eos_token_id, "pad_token": tok.pad_token_id}
    for key in [k for k, v in values.items() if not callable(v)]:
        for suffix in ("_id", "_index"):
            name = key[: -len(suffix)].lstrip("_")  # `_pad_token_id`: a config's private copy of `pad_token_id`
            if key.endswith(suffix) and name in named:
                values[key] = named[name]
    if text and isinstance(values.get("vocab_size"), int):
        values["vocab_size"] = len(tok)


def _resolve(value: Any, tok) -> Any:
    """Config values given as callables take what they return for the tokenizer (sizes that follow its vocabulary)."""
    if isinstance(value, dict):
        return {key: _resolve(v, tok) for key, v in value.items()}
    return value(tok) if callable(value) else value


def tiny_config(spec: TinySpec, tok):
    """The spec's config: class defaults shrunk, overrides merged, token ids wired, callables resolved."""
    cls = getattr(transformers, spec.config_class)
    base = cls().to_dict() if spec.shrink else {}
    subs = [k for k in getattr(cls, "sub_configs", {}) if isinstance(base.get(k), dict)]
    for key in subs:
        base[key] = _shrunk(base[key], _sizes(key))
    values = _merge(base, spec.config)
    for key in subs or [k for k, v in values.items() if isinstance(v, dict) and "model_type" in v]:
        if isinstance(values.get(key), dict):
            _wire_tokens(values[key], spec.tokens, tok, text="text" in key or "llm" in key)
    _wire_tokens(values, spec.tokens, tok, text=True)
    for key, text in spec.token_ids.items():
        (values[key],) = tok(text, add_special_tokens=False)["input_ids"]
    values = _resolve(values, tok)
    for key in ("transformers_version", "architectures", "_name_or_path"):
        values.pop(key, None)
    return cls(**values)


def tiny_model(spec: TinySpec, auto_class: str = "AutoModelForImageTextToText", real: RealVocab | None = None):
    """(random model, tokenizer) of a spec, in memory: on the trained BPE, or on a real vocabulary."""
    if real is None:
        tok = train_tokenizer(spec.tokens, spec.specials, spec.add_bos, spec.last_tokens)
    else:
        tok = real_tokenizer(spec, real)
    model = getattr(transformers, auto_class).from_config(tiny_config(spec, tok))
    if spec.after_init is not None:
        with torch.no_grad():
            spec.after_init(model)
    return model, tok


def build_from_spec(auto_class: str, spec: TinySpec, out: Path, real: RealVocab | None = None) -> None:
    model, tok = tiny_model(spec, auto_class, real)
    eos = [tok.convert_tokens_to_ids(t) for t in spec.generation_eos] or [tok.eos_token_id]
    gen = model.generation_config
    gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = eos, tok.pad_token_id, tok.bos_token_id
    parts = {name: getattr(transformers, cls)(**kwargs) for name, (cls, kwargs) in spec.parts.items()}
    template = (real and real.chat_template()) or (TEMPLATES / f"{spec.template}.jinja").read_text()
    processor = getattr(transformers, spec.processor)(
        tokenizer=tok, chat_template=template, **parts, **spec.processor_kwargs
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)


def _spec_modules(family: str) -> list:
    """The family's spec module and the spec modules it takes shared constants from, recursively."""
    names, out = [f"components.models.tiny.specs.{family}"], []
    while names:
        mod = importlib.import_module(names.pop())
        if mod not in out:
            out.append(mod)
            names += re.findall(r"^from (components\.models\.tiny\.specs\.\w+) import", inspect.getsource(mod), re.M)
    return out


def _sources(family: str, real: RealVocab | None = None) -> str:
    """Everything that decides the checkpoint: this builder, the spec modules and the template; on a real vocabulary
    also the shared tokenizer's and template's files (by content)."""
    mods = [sys.modules[__name__], spec_module, tokenizer_module, real_module, *_spec_modules(family)]
    text = (TEMPLATES / f"{spec_for(family).template}.jinja").read_text() + "".join(map(inspect.getsource, mods))
    if real is not None:
        text += "".join(f"{p.name}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in real.files())
    return text


def build_tiny(family: str, seed: int = 0, root: Path | None = None, vocab: str | None = None) -> Path:
    """Build (or reuse) the tiny checkpoint of `family` (on the shared real tokenizer `vocab` and the family's real
    template where one is given); returns its directory."""
    recipe = recipe_for(family, vocab)
    if recipe is None:
        raise ValueError(f"No tiny spec for family {family!r} (components/models/tiny/specs/{family}.py)")
    stamp = f"{family}-{seed}-{transformers.__version__}-{_sources(family, real_vocab(family, vocab))}"
    key = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    name = family if vocab is None else f"{family}-{vocab}"
    out = (root or cache_root()) / "tiny" / f"{name}-{key}"
    if (out / "config.json").exists() and (out / ".complete").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{name}-"))
    torch.manual_seed(seed)
    recipe(tmp)
    (tmp / ".complete").write_text(json.dumps({"family": family, "seed": seed, "vocab": vocab}))
    try:
        tmp.rename(out)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def tokenizer_and_template(family: str, vocab: str | None = None) -> tuple[str, str]:
    """What a tiny checkpoint of `family` is built on: the tokenizer (the trained BPE, or shared/tokenizers/<vocab>)
    and the chat template (ours, or the real one in shared/chat_templates), as sweep rows and MatrixResult name them."""
    spec = spec_for(family)
    if spec is None:  # a checkpoint built by the caller (a runtime-registered family: tests/test_remote_code.py)
        return "(given checkpoint)", "(given checkpoint)"
    ours = f"tiny/templates/{spec.template}.jinja"
    real = REAL_VOCABS.get(family) if vocab is not None else None
    if real is None:
        return "trained BPE", ours
    template = f"shared/chat_templates/{real.template}.json" if real.template else ours
    return f"shared/tokenizers/{real.tokenizer}", template
