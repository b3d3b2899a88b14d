"""One module per family. Each defines `FAMILY` (a components.family.Family), optionally `MODELS` (ModelEntry list)
and `tiny(out: Path)`, the recipe that builds a tiny random checkpoint of the family offline for the tests and the
sweep. Modules are discovered by name; adding a family is adding a file (see docs/add_new_model.md)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

from components.family import Family, ModelEntry

FAMILIES: dict[str, Family] = {}
MODELS: dict[str, ModelEntry] = {}
RECIPES: dict[str, Callable[[Path], None]] = {}


def register(family: Family, models: tuple[ModelEntry, ...] | list[ModelEntry] = (), recipe=None) -> Family:
    """Add a family at runtime (e.g. a private remote-code model); the same as shipping a module here."""
    if family.name in FAMILIES and FAMILIES[family.name] != family:
        raise ValueError(f"family {family.name!r} is already registered with a different entry")
    FAMILIES[family.name] = family
    for m in models:
        MODELS[m.model_id] = m
    if recipe is not None:
        RECIPES[family.name] = recipe
    return family


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        register(mod.FAMILY, getattr(mod, "MODELS", ()), getattr(mod, "tiny", None))


_discover()
