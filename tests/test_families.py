"""The family matrix on every family's tiny checkpoint, the sweep, and the generated supported-models doc."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from components.matrix import run_matrix, sweep
from components.models.catalog import FAMILIES, supported_models_markdown
from components.models.tiny.build import recipe_for

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["build", "load", "labels", "limits", "packing", "train", "merge", "generate"]


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if recipe_for(f)))
def test_family_matrix(family, one_thread, tiny_path):
    result = run_matrix(family, build=lambda: tiny_path(family))
    report = "\n".join(f"  {s.name:9} {'ok' if s.ok else 'FAIL'} {s.seconds:5.1f}s {s.detail}" for s in result.stages)
    if FAMILIES[family].known_bugs:
        # Strict: the family fails with the message naming the upstream bug; when a transformers release fixes it,
        # this fails and the known_bugs entry must go.
        assert not result.passed, f"{family} passes now: remove its known_bugs entry\n{report}"
        assert "known upstream bug" in result.reason, f"{family} failed otherwise: {result.reason}\n{report}"
        return
    assert result.passed, f"{family} failed at {result.reason}\n{report}"
    assert [s.name for s in result.stages] == STAGES
    packing = result.stages[STAGES.index("packing")]
    assert packing.skipped == (not FAMILIES[family].packing), packing
    assert result.seconds == pytest.approx(sum(s.seconds for s in result.stages))


def test_packing_false_skips_the_packing_stage_with_the_note(monkeypatch, one_thread, tiny_path):
    fam = dataclasses.replace(FAMILIES["llava"], packing=False, notes="Packing off: a note.")
    monkeypatch.setitem(FAMILIES, "llava", fam)
    result = run_matrix("llava", build=lambda: tiny_path("llava"))
    assert result.passed, result.reason
    packing = result.stages[STAGES.index("packing")]
    assert packing.ok and packing.skipped and "packing=False" in packing.detail and "a note" in packing.detail


def test_every_family_has_a_recipe():
    missing = {name for name in FAMILIES if recipe_for(name) is None}
    assert missing <= {name for name, f in FAMILIES.items() if f.remote_code}, missing


def test_supported_models_doc_is_current():
    doc = ROOT / "docs" / "supported_models.md"
    assert doc.read_text() == supported_models_markdown(), (
        "docs/supported_models.md is stale: run `lmms models --markdown > docs/supported_models.md`"
    )


def test_sweep_reports_pass_and_no_entry(one_thread):
    rows = {r["model_type"]: r for r in sweep(only=["llava", "fuyu"])}
    assert rows["llava"]["status"] == "pass", rows["llava"]
    assert rows["fuyu"]["status"] == "no-entry" and "docs/add_new_model.md" in rows["fuyu"]["reason"]
    json.dumps(list(rows.values()))  # the --json output is plain data


def test_sweep_cli_prints_pure_json(capsys, one_thread):
    from components.cli import main

    assert main(["sweep", "--json", "--only", "llava,fuyu"]) == 0  # no family with an entry fails
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["families_passed"] == 1 and out["summary"]["no_entry"] == 1
    assert {r["model_type"]: r["status"] for r in out["rows"]} == {"llava": "pass", "fuyu": "no-entry"}
