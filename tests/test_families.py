"""The family matrix on every family's tiny checkpoint, the sweep, and the generated supported-models doc."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import re
from pathlib import Path
from unittest import mock

import pytest
import transformers
from transformers import AutoProcessor, AutoTokenizer

from components import matrix
from components.config import ModelConfig
from components.matrix import Matrix, real_case, run_matrix, sweep
from components.models.catalog import FAMILIES, supported_models_markdown
from components.models.loading import ModelRef
from components.models.tiny.build import build_tiny, recipe_for, spec_for
from components.models.tiny.real import REAL_VOCABS, shared_root

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
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["case"] for r in rows] == ["bpe", "real"]  # the real-vocabulary case fails at the same load
    for row in rows if shared_root().is_dir() else rows[:1]:
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
    rows = {(r["model_type"], r["case"]): r for r in sweep(only=["llava", "fuyu"])}
    llava = rows[("llava", "bpe")]
    assert llava["status"] == "pass", llava
    assert (llava["tokenizer"], llava["template"]) == ("trained BPE", "tiny/templates/llava_1_5.jinja")
    real = rows[("llava", "real")]  # the same family again on its real tokenizer and template
    assert (real["tokenizer"], real["template"]) == (
        "shared/tokenizers/llama2_spm",
        "shared/chat_templates/llava_1_5.json",
    )
    assert real["status"] == ("pass" if shared_root().is_dir() else "skip"), real
    assert rows[("fuyu", "bpe")]["status"] == "no-entry" and "docs/add_new_model.md" in rows[("fuyu", "bpe")]["reason"]
    assert rows[("fuyu", "bpe")]["tokenizer"] is None
    json.dumps(list(rows.values()))  # the --json output is plain data


def test_sweep_cli_prints_pure_json(capsys, one_thread):
    from components.cli import main

    assert main(["sweep", "--json", "--only", "llava,fuyu"]) == 0  # no family with an entry fails
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["families_passed"] == 1 and out["summary"]["no_entry"] == 1
    statuses = {(r["model_type"], r["case"]): r["status"] for r in out["rows"]}
    real = "pass" if shared_root().is_dir() else "skip"
    assert out["summary"]["architectures"] == 2  # the real case is a second run of llava, not an architecture
    assert out["summary"]["real_cases"] == {"pass": [], "fail": [], "skip": []} | {real: ["llava"]}
    assert statuses == {("llava", "bpe"): "pass", ("llava", "real"): real, ("fuyu", "bpe"): "no-entry"}


# --- real vocabularies: the tiny checkpoints on real tokenizers and real templates (../shared) ------------------------

REAL_FAMILIES = {
    "qwen2_vl", "qwen2_5_vl", "llava", "llava_next", "llava_onevision", "idefics2", "idefics3", "mllama", "gemma3",
    "mistral3", "internvl",
}  # fmt: skip
SHARED_ABSENT = "../shared not found at {} (set LMMS_SHARED): real-vocabulary cases need its tokenizers and templates"


def require_shared() -> None:
    """Skip with one reason where ../shared is absent (a bare clone); under CI=true fail instead."""
    if not shared_root().is_dir():
        reason = SHARED_ABSENT.format(shared_root())
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def real_path(tmp_path_factory):
    """`real_path(family)`: the family's tiny checkpoint on its real vocabulary, built once (under $LMMS_CACHE)."""
    root = Path(os.environ["LMMS_CACHE"]) if os.environ.get("LMMS_CACHE") else tmp_path_factory.mktemp("lmms-real")
    return lambda family: build_tiny(family, root=root, vocab=REAL_VOCABS[family].tokenizer)


def test_real_vocab_table_lists_the_families():
    assert set(REAL_VOCABS) >= REAL_FAMILIES
    assert all(recipe_for(f) is not None for f in REAL_VOCABS)


@pytest.mark.parametrize("family", sorted(REAL_VOCABS))
def test_real_vocab_matrix(family, one_thread, real_path):
    """Every stage on the family's tiny checkpoint built on the real tokenizer, with the family's special tokens at the
    real checkpoints' ids and the real chat template: build, load, exact labels, limits, packing, train, merge,
    generate."""
    from transformers import AutoProcessor

    require_shared()
    real = REAL_VOCABS[family]
    path = real_path(family)
    processor = AutoProcessor.from_pretrained(path)
    tok = processor.tokenizer
    for token, at in real.ids.items():
        assert tok.convert_tokens_to_ids(token) == at, token
        assert tok.convert_ids_to_tokens(at) == token and len(tok.tokenize(token)) == 1, token
    if real.template:
        assert processor.chat_template == real.chat_template()
    assert len(tok) >= 32000  # the real vocabulary, not the 1000-token BPE
    result = run_matrix(family, build=lambda: path, vocab=real.tokenizer)
    report = "\n".join(f"  {s.name:9} {'ok' if s.ok else 'FAIL'} {s.seconds:5.1f}s {s.detail}" for s in result.stages)
    assert result.passed, f"{family} on {real.tokenizer} failed at {result.reason}\n{report}"
    assert [s.name for s in result.stages] == STAGES
    assert result.tokenizer == f"shared/tokenizers/{real.tokenizer}"
    ours = f"tiny/templates/{spec_for(family).template}.jinja"
    assert result.template == (f"shared/chat_templates/{real.template}.json" if real.template else ours)


def test_real_case_skips_without_shared_and_ci_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("LMMS_SHARED", str(tmp_path / "absent"))
    row = real_case("llava", {"model_type": "llava", "architecture": "X", "family": "llava"})
    assert row["status"] == "skip" and "LMMS_SHARED" in row["reason"] and str(tmp_path / "absent") in row["reason"]
    assert row["tokenizer"] == "shared/tokenizers/llama2_spm"
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="../shared not found"):
        require_shared()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="../shared not found"):
        require_shared()


# Token ids SOURCE.md (../shared/tokenizers/<name>/SOURCE.md) records for the real tokenizers, with the family tokens
# added: our remapping (placeholders renamed, tokens appended) must leave them exactly so.
SOURCE_IDS = {
    "qwen2_vl": ("<|im_start|>user\nHi<|im_end|>\n", [151644, 872, 198, 13048, 151645, 198]),
    "llava_next_video": (
        "USER: <video>\nWhat is shown in this video? ASSISTANT:",
        [1, 3148, 1001, 29901, 29871, 32000, 13, 5618, 338, 4318, 297, 445, 4863, 29973, 319, 1799, 9047, 13566, 29901],
    ),
    "mistral3": (
        "USER: [IMG][IMG][IMG][IMG_BREAK][IMG][IMG][IMG][IMG_END]\nWhat's the content of the image? ASSISTANT:",
        [1, 21510, 1058, 1032, 10, 10, 10, 12, 10, 10, 10, 13, 1010, 7493, 1681, 1278, 4701, 1307, 1278, 3937, 1063]
        + [1349, 4290, 16002, 41150, 1058],
    ),
    "gemma3": (
        "<start_of_turn>user\n<start_of_image>What is this?<end_of_turn>\n<start_of_turn>model\nA cat.<end_of_turn>\n",
        [105, 2364, 107, 255999, 3689, 563, 672, 236881, 106, 107, 105, 4368, 107, 236776, 5866, 236761, 106, 107],
    ),
    "mllama": ("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", [128006, 882, 128007, 271, 13347, 128009]),
}


@pytest.mark.parametrize("family", sorted(SOURCE_IDS))
def test_real_tokenizer_keeps_the_source_ids(family):
    from components.models.tiny.real import real_tokenizer

    require_shared()
    text, ids = SOURCE_IDS[family]
    tok = real_tokenizer(spec_for(family), REAL_VOCABS[family])
    add_special = family in ("llava_next_video", "mistral3")  # the checked ids start with BOS
    assert tok(text, add_special_tokens=add_special)["input_ids"] == ids


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
