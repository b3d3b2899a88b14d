"""Build (or reuse) a family's tiny random checkpoint, offline: model from its config class, tokenizer, the family's
processor and chat template, all `save_pretrained` into a directory keyed by the recipe's source."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import transformers

from components.config import cache_root
from components.models.catalog import FAMILIES

RECIPE_VERSION = "2"
RECIPES: dict = {}  # runtime-registered recipes (tests): family name -> callable(out: Path)


def recipe_for(family: str):
    """The family's recipe: a runtime-registered one, else its module's `tiny(out)`; None if it has none."""
    if family in RECIPES:
        return RECIPES[family]
    if family not in FAMILIES:
        return None
    mod = importlib.import_module(f"components.models.families.{family}")
    return getattr(mod, "tiny", None)


def build_tiny(family: str, seed: int = 0, root: Path | None = None) -> Path:
    """Build (or reuse) the tiny checkpoint of `family`; returns its directory."""
    recipe = recipe_for(family)
    if recipe is None:
        raise ValueError(f"No tiny recipe for family {family!r}")
    # The key covers the recipe's module, the family modules it imports from (shared builders and templates) and this
    # one, so editing any of them rebuilds the checkpoint.
    source = inspect.getsource(sys.modules[recipe.__module__])
    shared = sorted(set(re.findall(r"^from (components\.models\.families\.\w+) import", source, flags=re.M)))
    sources = source + "".join(inspect.getsource(sys.modules[m]) for m in shared)
    sources += inspect.getsource(sys.modules[__name__]) + inspect.getsource(sys.modules["components.models.tiny.parts"])
    stamp = f"{family}-{seed}-{RECIPE_VERSION}-{transformers.__version__}-{sources}"
    key = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    out = (root or cache_root()) / "tiny" / f"{family}-{key}"
    if (out / "config.json").exists() and (out / ".complete").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{family}-"))
    torch.manual_seed(seed)
    recipe(tmp)
    (tmp / ".complete").write_text(json.dumps({"family": family, "seed": seed}))
    try:
        tmp.rename(out)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return out
