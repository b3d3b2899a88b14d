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
    a, b = r["a_lmms_finetune"], r["b_ours"]
    for arm in (a, b):
        assert arm["supervised_tokens_per_s"] > 0 and arm["seconds"] > 0 and arm["peak_memory_mb"] > 0
        assert 0 <= arm["data_wait_share"] < 1
    # same samples, same order: the same supervised tokens; packing leaves no pad, (a) pads to model_max_length
    assert a["supervised_tokens"] == b["supervised_tokens"] > 0
    assert b["pad_fraction"] == 0.0 < a["pad_fraction"]
    assert b["token_slots"] < a["token_slots"] == r["setup"]["model_max_length_a"] * 4
    assert r["ratios_b_over_a"]["supervised_tokens_per_s"] == pytest.approx(
        b["supervised_tokens_per_s"] / a["supervised_tokens_per_s"]
    )
    for v in r["loss_memory_150k_vocab"].values():
        assert v["full_logits_peak_mb"] > 0 and v["chunked_peak_mb"] > 0 and v["loss_abs_diff"] < 1e-3
