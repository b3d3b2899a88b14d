"""`lmms bench` runs end to end on a tiny budget and its JSON holds sane figures (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from components.cli import main


@pytest.mark.slow
def test_bench_json(capfd):  # `lmms bench` runs the benchmark module in a subprocess: capture at the fd level
    args = ["bench", "--json", "--steps", "1", "--samples", "16", "--batch-size", "4", "--workers", "0"]
    assert main(args + ["--loss-tokens", "64", "--loss-hidden", "32"]) == 0
    r = json.loads(capfd.readouterr().out)
    a, b, c = r["a_lmms_finetune"], r["b_default"], r["c_pad_to_longest"]
    for arm in (a, b, c):
        assert arm["supervised_tokens_per_s"] > 0 and arm["seconds"] > 0 and arm["peak_memory_mb"] > 0
        assert 0 <= arm["data_wait_share"] < 1
    # (b) is the default config's path for the bench model (a tiny Qwen2-VL): packed, chunked loss
    path = b["default_path"]
    assert (path["batching"], path["packing"], path["loss"]) == ("packed", True, "chunked")
    assert path["loss_chunk_size"] == 256 and "qwen2_vl packs" in path["reason"]
    assert "default_path" not in a and "default_path" not in c
    # same samples, same order: the same supervised tokens; the same model start: the same first loss
    assert a["supervised_tokens"] == b["supervised_tokens"] == c["supervised_tokens"] > 0
    assert b["first_loss"] == pytest.approx(c["first_loss"], rel=1e-4) == pytest.approx(a["first_loss"], rel=1e-4)
    # packing leaves no pad; (c) pads each batch to its longest row only; (a) pads every row to model_max_length
    assert b["pad_fraction"] == 0.0 < c["pad_fraction"] < a["pad_fraction"]
    assert b["token_slots"] < c["token_slots"] < a["token_slots"] == r["setup"]["model_max_length_a"] * 4
    assert c["token_slots"] % 4 == 0 and c["token_slots"] // 4 <= r["setup"]["sample_tokens"]["max"]
    for key, other in (("ratios_b_over_a", a), ("ratios_b_over_c", c)):
        assert r[key]["supervised_tokens_per_s"] == pytest.approx(
            b["supervised_tokens_per_s"] / other["supervised_tokens_per_s"]
        )
    assert r["headline_b_over_c_supervised_tokens_per_s"] == r["ratios_b_over_c"]["supervised_tokens_per_s"]
    assert set(r["targets"]) == {
        "b_over_c_supervised_tokens_per_s",
        "b_over_a_supervised_tokens_per_s",
        "b_pad_fraction",
    }
    assert r["targets"]["b_pad_fraction"]["met"]
    for v in r["loss_memory_150k_vocab"].values():
        assert v["full_logits_peak_mb"] > 0 and v["chunked_peak_mb"] > 0 and v["loss_abs_diff"] < 1e-3
