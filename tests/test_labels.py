"""`lmms labels` (what the model is trained on, row by row) and the one token count validation and training share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.artifacts import MediaCache
from components.cli import main
from components.config import load_config
from components.data.collator import Rendered, VLMCollator, stop_tokens
from components.data.labels import GREEN, RESET, LabelRecord, Piece, Supervised, _turns, render_record
from components.data.media_cache import MediaSettings, preprocess_samples
from components.data.prepare import batch_token_counts, cached_loaders, cached_rows, run_stop_tokens, token_counter
from components.data.row_checks import limit_problems
from components.data.rows import parse_row
from components.models.catalog import FAMILIES
from components.models.loading import ModelRef
from components.models.tiny.build import recipe_for
from components.train.recipe import RowsDataset

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "example_data" / "train.json"
EVAL = ROOT / "example_data" / "eval.json"
# The first 40 rows of the example data hold every shape it has: one image, several images, video, text only, system
# prompts, multi-turn image and video rows (asserted in test_first_rows_cover_every_shape).
FIRST = 40


def _rows(n: int = FIRST) -> list[dict]:
    return json.loads(DATA.read_text())[:n]


def test_first_rows_cover_every_shape():
    rows = _rows()
    kinds = {
        "video"
        if "video" in r
        else "multi"
        if isinstance(r.get("image"), list)
        else "image"
        if "image" in r
        else "text"
        for r in rows
    }
    assert kinds == {"image", "multi", "video", "text"}  # (a several-image row counts as image and multi)
    assert any("system_prompt" in r for r in rows) and any(len(r["conversations"]) > 2 for r in rows)


def test_labels_json_supervises_each_answer_and_im_end(monkeypatch, capsys):
    """The demo config (tiny Qwen2-VL): every answer of every row is supervised as the answer + `<|im_end|>`, and
    nothing else is; the JSON carries exactly the documented keys."""
    monkeypatch.chdir(ROOT)
    argv = ["labels", "example_data/train.json", "--config", "configs/demo.yaml", "--json", "--limit", str(FIRST)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    tokenizer = ModelRef.from_config(load_config(ROOT / "configs/demo.yaml").model).load_processor().tokenizer
    assert list(out) == ["rows"]
    rows = _rows()
    assert [r["index"] for r in out["rows"]] == list(range(FIRST))  # every row is valid: all shown, in order
    for got, row in zip(out["rows"], rows, strict=True):
        assert set(got) == {"index", "tokens", "supervised_tokens", "supervised"}
        expected = [
            {"turn": k, "text": turn["value"] + "<|im_end|>"}
            for k, turn in enumerate(row["conversations"])
            if turn["from"] == "gpt"
        ]
        assert got["supervised"] == expected, (got, row)
        # the supervised token count is the count of the decoded texts' tokens (each answer + one `<|im_end|>`)
        encoded = [tokenizer(s["text"], add_special_tokens=False)["input_ids"] for s in expected]
        assert got["supervised_tokens"] == sum(len(ids) for ids in encoded)
        assert all(ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>") for ids in encoded)
        assert got["tokens"] > got["supervised_tokens"]


def test_labels_text_marks_supervised_spans_without_colour_off_a_terminal(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["labels", "example_data/train.json", "--config", "configs/demo.yaml", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "\033[" not in out  # captured stdout is not a TTY: no escape codes
    assert out.startswith("row 0: ")
    assert "<|im_start|>assistant\n[[yellow<|im_end|>]]" in out  # the supervised span, and only it, is marked
    assert "What color is the shape?<|im_end|>" in out and "[[What" not in out
    assert "<|image_pad|>×" in out  # expanded media tokens shown once, with their count


def test_render_record_colours_supervised_text_green():
    rec = LabelRecord(
        3, 10, 2, [Supervised(1, "red</s>")], [[Piece("USER: x ASSISTANT: ", False), Piece("red</s>", True)]]
    )
    assert render_record(rec, color=True).endswith(f"USER: x ASSISTANT: {GREEN}red</s>{RESET}")
    assert render_record(rec, color=False).endswith("USER: x ASSISTANT: [[red</s>]]")
    assert rec.to_dict() == {
        "index": 3,
        "tokens": 10,
        "supervised_tokens": 2,
        "supervised": [{"turn": 1, "text": "red</s>"}],
    }


ROLES = ["human", "gpt"] * 3


def _sample(system: bool):
    row = {"id": "x", "conversations": [{"from": f, "value": v} for f, v in zip(ROLES, "abcdef", strict=True)]}
    if system:
        row["system_prompt"] = "s"
    return parse_row(row, 0)


@pytest.mark.parametrize("system", [False, True])
def test_turns_of_each_training_sequence(system):
    """Answers are turns 1, 3, 5. One sequence: every answer in order. One sequence per answer (Gemma 4
    thinking off): each its own. Qwen3.5-like: earlier answers apart, the last sequence takes the rest."""
    s, off = _sample(system), int(system)

    def seq(n_messages: int, n_spans: int) -> tuple:
        return (0, Rendered("", [(0, 1)] * n_spans, n_messages + off), {})

    assert _turns(s, [seq(6, 3)]) == [[1, 3, 5]]
    assert _turns(s, [seq(2, 1), seq(4, 1), seq(6, 1)]) == [[1], [3], [5]]
    assert _turns(s, [seq(2, 1), seq(6, 2)]) == [[1], [3, 5]]
    with pytest.raises(ValueError, match="in no training sequence"):
        _turns(s, [seq(6, 1)])


def test_labels_refuses_invalid_data_naming_the_row(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(ROOT)
    rows = _rows(2)
    rows[1] = {**rows[1], "image": "train/nope.png"}
    data = tmp_path / "bad.json"
    data.write_text(json.dumps(rows))
    assert main(["labels", str(data), "--config", "configs/demo.yaml", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "row 1 (id=train-00001)" in captured.err


@pytest.fixture(scope="module")
def example_rows(tmp_path_factory):
    """(run config, every example row (train and eval) as samples, their media cache) as the pipeline prepares them:
    the demo config's data settings, every row's media preprocessed once into a media cache (preprocess_media)."""
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    d = cfg.data
    rows = json.loads(DATA.read_text()) + json.loads(EVAL.read_text())
    samples = [parse_row(r, i, image_folder=d.image_folder, video_folder=d.video_folder, base=ROOT) for i, r in
               enumerate(rows)]  # fmt: skip
    settings = MediaSettings.from_config(d)
    cache_dir = tmp_path_factory.mktemp("media")
    res = preprocess_samples(samples, settings, cache_dir, workers=0, progress=False)
    return cfg, samples, MediaCache(str(cache_dir), res.mapping, settings.__dict__)


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if recipe_for(f)))
def test_validation_counts_tokens_as_the_training_collator(family, example_rows, tiny_path, one_thread):
    """For every family and every row of the example data (train and eval) it takes (images / several images / video /
    system prompt as the family declares): validation's count (token_counter: rows with their media loaded as
    preprocessing loads them) equals the training collator's (the recipe's VLMCollator on RowsDataset rows read from
    the media cache), tokens and supervised tokens, row by row (a row over max_length: both refuse it at the same
    count); and the stop tokens both use are the ones the loaded model's generation_config gives."""
    cfg, samples, cache = example_rows
    fam = FAMILIES[family]
    ref = ModelRef.from_path(tiny_path(family), trust_remote_code=fam.remote_code)
    processor = ref.load_processor()
    stops = run_stop_tokens(ref, processor)
    model = ref.load_model()
    assert stops == stop_tokens(processor, model.generation_config)
    del model
    taken = [s for s in samples if not limit_problems(s, fam)]
    assert any(s.images for s in taken) or not fam.images
    count = token_counter(cfg, processor, ref)
    train_ds = RowsDataset(cached_rows(taken, cache), *cached_loaders(cache))
    collator = VLMCollator(processor, stops, cfg.train.max_length)  # as components/train/recipe.py builds it
    for i, sample in enumerate(taken):
        tokens, supervised = count(sample)
        if tokens > cfg.train.max_length:  # validation rejects the row as too long; training refuses it alike
            with pytest.raises(ValueError, match=f"row {sample.index}: {tokens} tokens exceed max_length"):
                collator([train_ds[i]])
            continue
        assert (tokens, supervised) == batch_token_counts(collator([train_ds[i]])), f"row {sample.index}"
