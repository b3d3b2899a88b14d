"""The New-run form, built from the typed RunConfig itself: one widget per field (a choice for a Literal, a checkbox for
a bool, a text field holding YAML for everything else), so a field added to components/config.py appears in the form
with its description and a changed type follows. Values go back through `parse_config`, whose `path: message` lines
are the form's error messages.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from components.config import ConfigError, RunConfig, parse_config

PIPELINE = "pipelines.finetune.finetune"


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, ...]
    kind: str  # "choice", "bool" or "text"
    description: str
    choices: tuple[Any, ...] = ()  # the Literal's values (choice), None first where the field is optional
    text_is_str: bool = False  # a text field whose only type is str: its text is the value, not YAML

    @property
    def key(self) -> str:
        return ".".join(self.path)


def _section(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _leaf(path: tuple[str, ...], annotation: Any, description: str) -> Leaf:
    args = typing.get_args(annotation)
    optional = type(None) in args
    inner = [a for a in args if a is not type(None)] if typing.get_origin(annotation) is not Literal else [annotation]
    if annotation is bool:
        return Leaf(path, "bool", description)
    if len(inner) == 1 and typing.get_origin(inner[0]) is Literal:
        choices = typing.get_args(inner[0])
        return Leaf(path, "choice", description, ((None,) if optional else ()) + tuple(choices))
    return Leaf(path, "text", description, text_is_str=annotation is str or (optional and inner == [str]))


def leaves(model: type[BaseModel] = RunConfig, prefix: tuple[str, ...] = ()) -> list[Leaf]:
    """Every field of RunConfig, nested sections flattened, in declaration order."""
    out = []
    for name, field in model.model_fields.items():
        sub = _section(field.annotation)
        if sub is not None:
            out += leaves(sub, (*prefix, name))
        else:
            out.append(_leaf((*prefix, name), field.annotation, field.description or ""))
    return out


def sections(model: type[BaseModel] = RunConfig, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(path, description) of every section and subsection, parents first."""
    out = []
    for name, field in model.model_fields.items():
        sub = _section(field.annotation)
        if sub is not None:
            out.append(((*prefix, name), field.description or ""))
            out += sections(sub, (*prefix, name))
    return out


def choice_label(value: Any) -> str:
    return "" if value is None else str(value)


def _get(d: dict, path: tuple[str, ...]) -> Any:
    for p in path:
        d = d[p]
    return d


def _set(d: dict, path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        d = d.setdefault(p, {})
    d[path[-1]] = value


def widget_value(leaf: Leaf, value: Any) -> Any:
    """What the widget of `leaf` shows for a config value."""
    if leaf.kind == "bool":
        return bool(value)
    if leaf.kind == "choice":
        return choice_label(value)
    if value is None:
        return ""
    if leaf.text_is_str:
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def form_values(cfg: RunConfig) -> list[Any]:
    dumped = cfg.model_dump(mode="json")
    return [widget_value(leaf, _get(dumped, leaf.path)) for leaf in leaves()]


def _config_value(leaf: Leaf, shown: Any) -> Any:
    """A widget's value as a config value; raises ValueError with the reason."""
    if leaf.kind == "bool":
        return bool(shown)
    if leaf.kind == "choice":
        for c in leaf.choices:
            if choice_label(c) == (shown or ""):
                return c
        raise ValueError(f"{shown!r} is not one of {', '.join(choice_label(c) or '(none)' for c in leaf.choices)}")
    text = "" if shown is None else str(shown).strip()
    if text == "":
        return None
    if leaf.text_is_str:
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"not valid YAML: {' '.join(str(e).split())}") from None


def _field_defaults(model: type[BaseModel]) -> dict[str, Any]:
    out = {}
    for name, field in model.model_fields.items():
        sub = _section(field.annotation)
        if sub is not None:
            out[name] = _field_defaults(sub)
        else:
            default = field.default_factory() if field.default is PydanticUndefined else field.default
            out[name] = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
    return out


def _diff(shown: dict, defaults: dict) -> dict:
    out = {}
    for k, v in shown.items():
        if isinstance(v, dict) and isinstance(defaults.get(k), dict):
            sub = _diff(v, defaults[k])
            if sub:
                out[k] = sub
        elif v != defaults.get(k):
            out[k] = v
    return out


def compact(shown: dict) -> dict:
    """The config dict a YAML file needs for the values `shown` (every field): sections equal to RunConfig's default
    left out (but the model, always shown), else the keys that differ from their field defaults; a section whose
    short form would validate to something else (a validator filling defaults) is written out whole."""
    default = RunConfig().model_dump(mode="json")
    out = {}
    for name, field in RunConfig.model_fields.items():
        sub = _section(field.annotation)
        if name not in shown or (name != "model" and shown[name] == default.get(name)):  # the model always shown
            continue
        if sub is None:
            out[name] = shown[name]
            continue
        try:  # as the config holds it (`1` for a float field is 1.0); an invalid section as typed (its errors follow)
            value = sub.model_validate(shown[name]).model_dump(mode="json")
        except ValueError:
            value = shown[name]
        if name != "model" and value == default.get(name):
            continue
        short = _diff(value, _field_defaults(sub))
        try:
            same = sub.model_validate(short).model_dump(mode="json") == value
        except ValueError:
            same = False
        out[name] = short if same else value
    return out


def config_from_values(values: list[Any]) -> tuple[dict, list[str]]:
    """(the compact config dict, problems as `path: message` lines) for the widgets' values in `leaves()` order."""
    shown: dict = {}
    problems = []
    for leaf, v in zip(leaves(), values, strict=True):
        try:
            _set(shown, leaf.path, _config_value(leaf, v))
        except ValueError as e:
            problems.append(f"{leaf.key}: {e}")
    if problems:
        return {}, problems
    config = compact(shown)
    try:
        parse_config(config, "the form")
    except ConfigError as e:
        return config, e.problems
    return config, []


def zenml_document(config: dict, zenml_keys: dict | None = None, run_name: str | None = None) -> dict:
    """A ZenML run config (what `zenml pipeline run -c` takes): ZenML's own keys, the run config under
    `parameters.config`."""
    doc = {k: v for k, v in (zenml_keys or {}).items() if k != "parameters"}
    if run_name:
        doc["run_name"] = run_name
    doc["parameters"] = {"config": config}
    return doc


def to_yaml(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=120)


def command(config_path: str) -> list[str]:
    """The argv that runs the pipeline on a saved config, as a user types it."""
    return ["zenml", "pipeline", "run", PIPELINE, "-c", config_path]
