"""The UI's pieces that need no server: the New-run form follows RunConfig (every key, round trip, the config's own
messages), the loss curve read from a training log, and the bind rule."""

from __future__ import annotations

from pathlib import Path

from components.config import RunConfig, config_table_markdown, load_config, parse_config
from components.ui import form
from components.ui.app import loss_png, loss_points
from components.ui.security import bind_problem, check_bind

ROOT = Path(__file__).resolve().parent.parent


def test_the_form_has_one_field_per_config_key():
    keys = [lf.key for lf in form.leaves()]
    table = [line.split("|")[1].strip() for line in config_table_markdown().splitlines()[2:]]
    assert keys == [k.strip("`") for k in table if k.startswith("`")]  # the README's table: every leaf, in order
    kinds = {lf.key: lf for lf in form.leaves()}
    assert kinds["train.llm"].kind == "choice" and kinds["train.llm"].choices == ("lora", "qlora", "full", "frozen")
    assert kinds["train.resume"].kind == "bool"
    assert kinds["train.distributed.num_processes"].kind == "text"  # int | "auto": YAML text
    assert kinds["model.model_id"].text_is_str and not kinds["train.epochs"].text_is_str


def test_every_shipped_config_round_trips_through_the_form():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path)
        config, problems = form.config_from_values(form.form_values(cfg))
        assert not problems, (path.name, problems)
        assert parse_config(config) == cfg, path.name
    config, problems = form.config_from_values(form.form_values(RunConfig()))
    assert (problems, parse_config(config)) == ([], RunConfig())


def test_invalid_values_get_the_configs_own_messages():
    keys = [lf.key for lf in form.leaves()]
    values = form.form_values(load_config(ROOT / "configs" / "demo.yaml"))
    values[keys.index("train.warmup_ratio")] = "lots"
    values[keys.index("data.num_frames")] = "0"
    values[keys.index("train.llm")] = "half"
    _, problems = form.config_from_values(values)
    assert problems == ["train.llm: 'half' is not one of lora, qlora, full, frozen"]  # the widget's own check first
    values[keys.index("train.llm")] = "lora"
    _, problems = form.config_from_values(values)
    assert "data.num_frames: Input should be greater than or equal to 1 (got 0)" in problems, problems
    assert any(p.startswith("train.warmup_ratio: Input should be a valid number") for p in problems), problems


def test_zenml_document_and_command():
    doc = form.zenml_document({"train": {"epochs": 1}}, {"enable_cache": True, "parameters": {"x": 1}}, "ui-x-1")
    assert doc == {"enable_cache": True, "run_name": "ui-x-1", "parameters": {"config": {"train": {"epochs": 1}}}}
    assert form.command("configs/a.yaml") == ["zenml", "pipeline", "run", "pipelines.finetune.finetune", "-c",
                                              "configs/a.yaml"]  # fmt: skip


def test_loss_curve_from_the_trainer_log(tmp_path):
    log = (
        "Step finetune has started.\n"
        "  5%|5         | 1/20 [00:01<00:20]\r{'loss': '2.5', 'grad_norm': '3.1', 'learning_rate': '0.001', "
        "'epoch': '0.5'}\n"
        "{'loss': '1.25', 'grad_norm': '2', 'learning_rate': '0.0005', 'epoch': '1'}\n"
        "{'eval_loss': '1.5', 'eval_runtime': '1.0', 'epoch': '1'}\n"
        "{'train_runtime': '10', 'train_loss': '1.8', 'epoch': '1'}\n"
        "{'loss': 'nonsense'}\n"
    )
    points = loss_points(log)
    assert points == {"loss": [(0.5, 2.5), (1.0, 1.25)], "eval_loss": [(1.0, 1.5)]}
    png = loss_png(points, tmp_path / "loss.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert loss_png({"loss": [], "eval_loss": []}, tmp_path / "none.png") is None


def test_only_loopback_without_credentials():
    assert check_bind("127.0.0.1", None) is None and check_bind("localhost", None) is None
    assert check_bind("::1", None) is None
    assert check_bind("0.0.0.0", None).startswith("refusing to serve on 0.0.0.0 without --auth user:password")
    assert check_bind("0.0.0.0", "alice:secret") is None
    assert check_bind("0.0.0.0", "alice") == "--auth takes user:password (both non-empty)"
    assert bind_problem(["--host=10.0.0.2"]).startswith("refusing to serve on 10.0.0.2")
    assert bind_problem(["--port", "9000"]) is None
