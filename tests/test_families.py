"""The family matrix on every family's tiny checkpoint, the sweep, and the generated supported-models doc."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import re
from pathlib import Path
from unittest import mock

import pytest
import transformers
from transformers import AutoProcessor, AutoTokenizer

from components import matrix
from components.config import ModelConfig
from components.matrix import Matrix, run_matrix, sweep
from components.models.catalog import FAMILIES, supported_models_markdown
from components.models.loading import ModelRef
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


def _lookup_980(*args):
    return {}[980]


def test_failure_reason_keeps_type_message_and_location(monkeypatch, tiny_path, tmp_path):
    """A check that raises inside a stage: the reason names the original exception, its message and the innermost
    project frame (not a wrapper's text), and the stage keeps the full traceback."""
    monkeypatch.setattr(matrix, "check_labels", _lookup_980)
    result = run_matrix("llava", build=lambda: tiny_path("llava"), warm_up=False)
    line = inspect.getsourcelines(_lookup_980)[1] + 1
    assert result.reason == f"labels: single: KeyError: 980 @ tests/test_families.py:{line}"
    failed = result.stages[-1]
    assert not failed.ok and failed.detail == result.reason.removeprefix("labels: ")
    assert failed.traceback.startswith("Traceback (most recent call last)") and "KeyError: 980" in failed.traceback

    # Raised in the standard library (json): the location is the innermost project frame that called it
    (tmp_path / "config.json").write_text("{not json")
    result = run_matrix("llava", build=lambda: tmp_path, warm_up=False)
    assert re.fullmatch(r"load: JSONDecodeError: Expecting .* @ components/models/loading\.py:\d+", result.reason)

    # A library error re-raised as another type: the wrapper's type and text, the original's type, its location
    result = run_matrix("llava", build=lambda: tmp_path / "missing", warm_up=False)
    assert re.fullmatch(
        r"load: OSError: .* \(from \w+Error\) @ (huggingface_hub|transformers)/\S+\.py:\d+", result.reason
    )


def test_sweep_traceback_flag(monkeypatch, capsys):
    from components.cli import main

    def failing_load(self):
        raise RuntimeError("the load broke")

    monkeypatch.setattr(Matrix, "stage_load", failing_load)
    line = inspect.getsourcelines(failing_load)[1] + 1
    assert main(["sweep", "--only", "llava", "--traceback"]) == 1
    out = capsys.readouterr().out
    assert f"load: RuntimeError: the load broke @ tests/test_families.py:{line}" in out
    assert "Traceback (most recent call last)" in out and 'raise RuntimeError("the load broke")' in out

    assert main(["sweep", "--only", "llava"]) == 1  # without the flag: the reason, no traceback
    out = capsys.readouterr().out
    assert "the load broke @ tests/test_families.py" in out and "Traceback" not in out

    assert main(["sweep", "--json", "--only", "llava"]) == 1  # --json: always a field
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["traceback"].startswith("Traceback (most recent call last)") and row["stages"][-1]["traceback"]


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


def test_sweep_known_upstream_bug_is_reported_and_exits_zero(capsys, one_thread):
    """Llama 4 fails with its declared upstream bug: status `known-bug`, not `fail`, and the exit status stays 0."""
    from components.cli import main

    assert FAMILIES["llama4"].known_bugs
    assert main(["sweep", "--json", "--only", "llama4"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["rows"]
    assert row["status"] == "known-bug" and "known upstream bug" in row["reason"], row["reason"]
    assert out["summary"]["known_bug"] == ["llama4"] and out["summary"]["failed"] == []


def test_sweep_other_failure_of_a_family_with_a_known_bug_still_fails(monkeypatch, capsys):
    """A family that declares an upstream bug but fails for another reason is a `fail` and exits 1."""
    from components.cli import main

    def failing_load(self):
        raise RuntimeError("the load broke")

    monkeypatch.setattr(Matrix, "stage_load", failing_load)
    assert main(["sweep", "--json", "--only", "llama4"]) == 1
    out = json.loads(capsys.readouterr().out)
    (row,) = out["rows"]
    assert row["status"] == "fail" and "the load broke" in row["reason"]
    assert out["summary"]["failed"] == ["llama4"] and out["summary"]["known_bug"] == []


def test_sweep_status_needs_a_declared_bug():
    failed = matrix.MatrixResult("llava", "llava", passed=False, reason="train: RuntimeError: a known upstream bug")
    assert matrix.sweep_status(FAMILIES["llava"], failed) == "fail"  # the text alone, without a declared bug
    assert matrix.sweep_status(FAMILIES["llama4"], failed) == "known-bug"
    assert matrix.sweep_status(FAMILIES["llama4"], dataclasses.replace(failed, reason="load: OSError: x")) == "fail"
    assert matrix.sweep_status(FAMILIES["llava"], dataclasses.replace(failed, passed=True)) == "pass"


def test_model_revision_reaches_every_from_pretrained(tiny_path):
    """`model.revision` goes to the model's, the processor's and (through the processor) the tokenizer's
    from_pretrained; a local directory ignores it, as transformers does, so the calls are recorded, not faked."""
    path = tiny_path("qwen2_vl")
    ref = ModelRef.from_config(ModelConfig(model_id=str(path), family="qwen2_vl", revision="v1.0"))
    assert ref.revision == "v1.0"
    calls: dict[str, list] = {}

    def recording(name: str, load):
        def call(*args, **kwargs):
            calls.setdefault(name, []).append(kwargs.get("revision"))
            return load(*args, **kwargs)

        return call

    spies = {"processor": AutoProcessor, "tokenizer": AutoTokenizer, "model": transformers.AutoModelForImageTextToText}
    with contextlib.ExitStack() as stack:
        for name, auto in spies.items():
            stack.enter_context(
                mock.patch.object(auto, "from_pretrained", side_effect=recording(name, auto.from_pretrained))
            )
        processor, model = ref.load_processor(), ref.load_model()
    assert calls == {"processor": ["v1.0"], "tokenizer": ["v1.0"], "model": ["v1.0"]}
    assert processor.tokenizer is not None and model.config.model_type == "qwen2_vl"
