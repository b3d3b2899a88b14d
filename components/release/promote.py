"""Registry promotion: compare a candidate model version with the `champion` and move MLflow aliases.

A better candidate (by more than the configured margin) takes the `champion` alias and the old champion moves to
`previous`; otherwise the candidate is tagged `rejected` with the reason and nothing else changes. No ZenML here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from mlflow.exceptions import MlflowException

CHAMPION, PREVIOUS = "champion", "previous"


@dataclass
class Decision:
    promote: bool
    reason: str
    metric: str
    candidate_value: float | None
    champion_value: float | None


def _value(metrics: dict, metric: str) -> float | None:
    v = metrics.get(metric)
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def decide(
    candidate_metrics: dict,
    champion_metrics: dict | None,
    metric: str = "smoke_accuracy",
    margin: float = 0.0,
    higher_is_better: bool = True,
) -> Decision:
    """Promote when there is no champion, or when the candidate beats it by more than `margin` on `metric`.

    A candidate without the metric is never promoted; a champion without it cannot defend its place."""
    cand = _value(candidate_metrics, metric)
    if cand is None:
        return Decision(False, f"candidate has no metric {metric!r}", metric, None, None)
    if champion_metrics is None:
        return Decision(True, "no champion yet", metric, cand, None)
    champ = _value(champion_metrics, metric)
    if champ is None:
        return Decision(True, f"champion has no metric {metric!r}", metric, cand, None)
    gain = cand - champ if higher_is_better else champ - cand
    word = "higher" if higher_is_better else "lower"
    if gain > margin:
        return Decision(
            True, f"{metric} {cand:.4g} vs champion {champ:.4g}: {word} by {gain:.4g} > {margin}", metric, cand, champ
        )
    return Decision(
        False, f"{metric} {cand:.4g} vs champion {champ:.4g}: not {word} by more than {margin}", metric, cand, champ
    )


def _version_metrics(client, name: str, version: int) -> dict:
    mv = client.get_model_version(name, str(version))
    return dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}


def promote(
    client,
    name: str,
    version: int,
    metric: str = "smoke_accuracy",
    margin: float = 0.0,
    higher_is_better: bool = True,
) -> dict:
    """Decide on `name` v`version` against the current champion and apply the decision to the MLflow registry.

    Idempotent: promoting the version that already is the champion changes nothing."""

    version = int(version)
    try:
        champion = int(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        champion = None
    out = {"model_name": name, "version": version, "previous_champion": champion}
    if champion == version:
        return {**out, "promoted": True, "reason": "already champion", "metric": metric, "champion": version}

    cand_metrics = _version_metrics(client, name, version)
    champ_metrics = _version_metrics(client, name, champion) if champion is not None else None
    d = decide(cand_metrics, champ_metrics, metric, margin, higher_is_better)
    if d.promote:
        client.set_registered_model_alias(name, CHAMPION, str(version))
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS, str(champion))
        client.set_model_version_tag(name, str(version), "promotion", f"champion: {d.reason}")
        if "rejected" in client.get_model_version(name, str(version)).tags:
            client.delete_model_version_tag(name, str(version), "rejected")
    else:
        client.set_model_version_tag(name, str(version), "rejected", d.reason)
        client.set_model_version_tag(name, str(version), "promotion", f"rejected: {d.reason}")
    info = {k: v for k, v in asdict(d).items() if k != "promote"}
    return {**out, **info, "promoted": d.promote, "champion": version if d.promote else champion}


def _alias_version(client, name: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def set_champion(client, name: str, version: int, reason: str = "set by hand") -> dict:
    """Make `version` the champion whatever its metrics (a person decided, e.g. in `lmms ui`); the old champion
    becomes `previous`. Idempotent."""
    version = int(version)
    client.get_model_version(name, str(version))  # an unknown version fails here, before any alias moves
    champion = _alias_version(client, name, CHAMPION)
    if champion != version:
        client.set_registered_model_alias(name, CHAMPION, str(version))
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS, str(champion))
        client.set_model_version_tag(name, str(version), "promotion", f"champion: {reason}")
    return {"model_name": name, "champion": version, "previous": _alias_version(client, name, PREVIOUS)}


def roll_back(client, name: str) -> dict:
    """The `previous` version becomes the champion again and the champion it replaces becomes `previous`."""
    previous = _alias_version(client, name, PREVIOUS)
    if previous is None:
        raise ValueError(f"model {name} has no version with the alias {PREVIOUS!r}: nothing to roll back to")
    return set_champion(client, name, previous, reason="rolled back")
