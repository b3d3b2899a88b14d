"""The web UI through its API (gradio_client) on 127.0.0.1: the New-run form checked by the typed config, configs
saved and loaded, a dataset validated row by row, registry versions promoted and rolled back with a confirmation,
file access limited to the project; and `lmms ui` refusing a public bind without credentials."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from gradio_client import Client
from mlflow import MlflowClient

from components.config import load_config
from components.ui import form
from tests.zenml_cli import ROOT


@pytest.fixture(scope="module")
def client(ui_server):
    return Client(ui_server.url, verbose=False)


def _demo_values(client) -> list:
    out = client.predict("configs/demo.yaml", api_name="/load_config")
    assert out[-1] == "loaded configs/demo.yaml"
    return list(out[: len(form.leaves())])


def _set(values: list, key: str, value) -> list:
    values = list(values)
    values[[lf.key for lf in form.leaves()].index(key)] = value
    return values


def test_public_bind_without_auth_is_refused():
    for args in (["--host", "0.0.0.0"], ["--host=192.168.1.5"], ["--host", "0.0.0.0", "--auth", "nopassword"]):
        proc = subprocess.run([sys.executable, "-m", "components.cli", "ui", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("lmms ui: "), proc.stderr
    assert (
        "refusing to serve on 0.0.0.0 without --auth user:password"
        in subprocess.run(
            [sys.executable, "-m", "components.cli", "ui", "--host", "0.0.0.0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stderr
    )


def test_form_is_checked_by_the_typed_config(client):
    values = _demo_values(client)
    yaml_text, cmd, check = client.predict(*values, "enable_cache: true\n", "mine", api_name="/check_config")
    assert check == "valid"
    assert cmd == "zenml pipeline run pipelines.finetune.finetune -c configs/mine.yaml"
    assert "epochs: 12.0" in yaml_text and "parameters:" in yaml_text and "enable_cache: true" in yaml_text

    bad = _set(_set(values, "train.epochs", "many"), "train.lora.r", "[1")
    bad = _set(bad, "train.distributed.num_processes", "0")
    _, _, check = client.predict(*bad, "", "mine", api_name="/check_config")
    assert check.startswith("train.lora.r: not valid YAML"), check  # the form's own parse, first
    fixed = _set(bad, "train.lora.r", "8")
    _, _, check = client.predict(*fixed, "", "mine", api_name="/check_config")
    lines = check.splitlines()  # the config's own `path: message` lines (components/config.py)
    assert any(line.startswith("train.epochs: Input should be a valid number") for line in lines), lines
    assert "train.distributed.num_processes: num_processes must be >= 1 or 'auto' (got 0)" in lines, lines
    _, _, check = client.predict(*values, "train: {epochs: 1}", "mine", api_name="/check_config")
    assert check == "ZenML keys: train: a run config section, set it in the form"
    _, _, check = client.predict(*values, "[1, 2]", "mine", api_name="/check_config")
    assert check == "ZenML keys: not valid: a mapping expected, got list"


def test_save_and_load_a_config(client, ui_server):
    values = _set(_demo_values(client), "train.epochs", "3")
    msg = client.predict(*values, "", "../evil", api_name="/save_config")
    assert msg.startswith("config name '../evil'")
    assert not (ui_server.project / "evil.yaml").exists()
    bad = _set(values, "train.llm", "lora")  # a valid choice; then an invalid value elsewhere refuses the save
    msg = client.predict(*_set(bad, "smoke.num_samples", "-"), "", "ui_bad", api_name="/save_config")
    assert msg.startswith("not saved:\nsmoke.num_samples: "), msg
    assert not (ui_server.project / "configs" / "ui_bad.yaml").exists()
    msg = client.predict(*values, "enable_cache: false\n", "ui_saved", api_name="/save_config")
    assert msg == "saved configs/ui_saved.yaml"
    saved = ui_server.project / "configs" / "ui_saved.yaml"
    assert saved.is_file()
    assert load_config(saved, zenml=True).train.epochs == 3
    loaded = client.predict("configs/ui_saved.yaml", api_name="/load_config")
    assert list(loaded[: len(values)]) == _set(values, "train.epochs", "3.0")  # as the config holds it: a float
    assert loaded[-2].strip() == "enable_cache: false"


def test_validate_names_the_bad_row_and_its_reason(client, ui_server):
    rows = json.loads((ui_server.project / "example_data" / "eval.json").read_text())[:4]
    rows[2] = {**rows[2], "image": "no/such/picture.png"}
    rows[2].pop("video", None)
    rows[2]["conversations"][0]["value"] = "<image>\nWhat is it?"
    # next to the media: a file that is not the config's own resolves relative media paths against its own folder
    bad = ui_server.project / "example_data" / "media" / "ui_bad.json"
    bad.write_text(json.dumps(rows))
    summary, table, report = client.predict("example_data/media/ui_bad.json", "configs/demo.yaml", "",
                                            api_name="/validate_data")  # fmt: skip
    assert summary == "example_data/media/ui_bad.json: 1 of 4 rows are invalid", summary
    [[index, row_id, kind, reason]] = [r for r in table["data"]]
    assert (index, row_id) == (2, rows[2]["id"]) and "no/such/picture.png" in reason, table
    assert "<h1>Dataset validation" in report
    summary, table, _ = client.predict("/etc/passwd", "", "", api_name="/validate_data")
    assert "outside the project" in summary and not table["data"]


def test_files_outside_the_allowed_paths_are_refused(ui_server):
    for path in ("/etc/passwd", str(ROOT / "README.md")):  # the checkout is not the served project
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{ui_server.url}gradio_api/file={path}", timeout=30)
        assert err.value.code in (403, 404), path
    ok = urllib.request.urlopen(f"{ui_server.url}gradio_api/file={ui_server.project / 'configs' / 'demo.yaml'}")
    assert b"parameters:" in ok.read()


def test_promote_and_roll_back_with_confirmation(client, ui_server):
    uri = f"sqlite:///{ui_server.project / 'ui-models.db'}"
    mlflow = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = mlflow.create_experiment("ui-test")
    mlflow.create_registered_model("ui-model")
    for acc in (0.5, 0.75):
        run = mlflow.create_run(exp)
        mlflow.log_metric(run.info.run_id, "smoke_accuracy", acc)
        mlflow.create_model_version("ui-model", source=str(ui_server.project), run_id=run.info.run_id)
    rows, msg = client.predict(uri, "ui-model", api_name="/list_models")
    assert msg.startswith("2 versions of ui-model") and [r[0] for r in rows["data"]] == [2, 1]
    assert json.loads(rows["data"][0][2]) == {"smoke_accuracy": 0.75}

    assert client.predict(uri, "ui-model", 1, False, api_name="/promote").startswith("tick the confirmation")
    with pytest.raises(Exception):  # noqa: B017  (MLflow's own error: no alias was set)
        mlflow.get_model_version_by_alias("ui-model", "champion")
    assert client.predict(uri, "ui-model", 1, True, api_name="/promote") == (
        "ui-model: champion is version 1, previous is None"
    )
    assert client.predict(uri, "ui-model", 2, True, api_name="/promote") == (
        "ui-model: champion is version 2, previous is 1"
    )
    assert client.predict(uri, "ui-model", True, api_name="/rollback") == (
        "ui-model: rolled back; champion is version 1, previous is 2"
    )
    assert str(mlflow.get_model_version_by_alias("ui-model", "champion").version) == "1"
    rows, _ = client.predict(uri, "ui-model", api_name="/list_models")
    assert {r[0]: r[1] for r in rows["data"]} == {2: "previous", 1: "champion"}


def test_label_view_highlights_what_is_supervised(client):
    html = client.predict("example_data/eval.json", "configs/demo.yaml", 2, api_name="/labels")
    assert html.count("<h4>row ") == 2 and html.startswith("<h4>row 0: ")
    marked = re.findall(r'<mark class="supervised"[^>]*>(.*?)</mark>', html, flags=re.S)
    assert marked and all(m.strip() for m in marked)
    assert "left" in marked[0]  # row 0's answer (example_data/eval.json), and only the answers are marked
    assert "Which way does the square move?" not in "".join(marked)
