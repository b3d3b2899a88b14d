"""The web UI in a real browser: Playwright for Python driving Debian's Chromium (`chromium-headless-shell`, which
.ci/run installs; `playwright install` is never used). One pipeline run, started from the New-run form (the demo
config trained for one epoch at a higher learning rate: TRY_RUN), is shared by the tests: it reaches `completed` in
Runs with a loss curve, and its checkpoint answers the Try question with generated text. A file with a bad row shows
that row and its reason in Data; a second run is stopped from Runs and its process group is gone. Each test saves a
screenshot under its output folder (and under $LMMS_UI_SCREENSHOTS, e.g. docs/images, when set: docs/ui.md shows
them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from components.config import TrainConfig, load_config
from components.ui.app import NO_TEXT
from components.ui.jobs import RUNNING
from tests.ui_server import free_port, processes_gone, require_browser
from tests.zenml_cli import zenml_run

RUN_TIMEOUT_S = 1500
# The shared run: the demo config (12 epochs at 1e-3) with what a user in a hurry changes in the form, one epoch at
# 3e-3. Measured on the demo's seeded init (the pipeline's training and merge, then the Try tab's generate): the
# merged checkpoint answers "What color is the shape?" with a colour on every held-out image, its first token ahead of
# the end of the answer by 0.66 logits (the same figures from a rerun and with one thread instead of two). The demo
# config with two epochs at 1e-3, the former setting, ends its answer at once on all of them (end ahead by 0.01-0.03):
# an empty answer; three epochs at 1e-3 answer too (margin 1.3) but train three times as long.
TRY_RUN = {"epochs": "1", "learning_rate": "0.003"}
# A held-out image whose training question is the Try prompt (example_data/eval.json: "What color is the shape?")
TRY_IMAGE = "example_data/media/eval/img_0006.png"
expect.set_options(timeout=180_000)  # a shared CI machine: the UI answers in seconds, not milliseconds


@pytest.fixture(scope="module")
def page(ui_server):
    binary = require_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(ui_server.url)
        yield page
        browser.close()


def shot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    out = tmp_path / f"{name}.png"
    page.screenshot(path=str(out), full_page=full_page)
    if os.environ.get("LMMS_UI_SCREENSHOTS"):
        dest = Path(os.environ["LMMS_UI_SCREENSHOTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, dest / out.name)
    assert out.stat().st_size > 10_000
    return out


def field(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def start_from_form(page, **train: str) -> str:
    """Fill the form (demo config loaded on page load) with the `train` section's values, start it; the job id."""
    tab(page, "New run")
    expect(field(page, "config-check")).to_have_value("valid")
    previous = field(page, "start-msg").input_value()
    preview = page.locator("#yaml-preview")
    for key, value in train.items():
        field(page, f"f-train-{key}").fill(value)
        if float(value) == getattr(TrainConfig(), key):  # the preview holds what differs from the defaults
            expect(preview).not_to_contain_text(f" {key}: ")
        else:
            expect(preview).to_contain_text(f" {key}: {float(value)}")
    page.locator("#start-run").click()
    msg = field(page, "start-msg")
    expect(msg).to_have_value(re.compile(r"^started job "))
    expect(msg).not_to_have_value(previous)
    return re.match(r"started job (\S+) ", msg.input_value()).group(1)


def refresh_until(page, pattern: str, timeout: float) -> None:
    tab(page, "Runs")
    end = time.monotonic() + timeout
    while True:
        page.locator("#runs-refresh").click()
        try:
            expect(page.locator("#runs-table")).to_contain_text(re.compile(pattern), timeout=20_000)
            return
        except AssertionError:
            if time.monotonic() > end:
                raise
            time.sleep(10)


@pytest.fixture(scope="module")
def completed_run(page, ui_server, tmp_path_factory):
    """The demo config with TRY_RUN's settings, started from the form and followed in Runs to `completed`: its job
    id."""
    out = tmp_path_factory.mktemp("new-run")
    job_id = start_from_form(page, **TRY_RUN)
    shot(page, out, "new_run")
    job = ui_server.jobs.get(job_id)
    assert job.argv[1:5] == ["pipeline", "run", "pipelines.finetune.finetune", "-c"] and job.run_names
    trained = load_config(job.config).train
    assert {k: str(getattr(trained, k)) for k in TRY_RUN} == {k: str(float(v)) for k, v in TRY_RUN.items()}
    # the run's end is awaited on its job record: a Runs view kept open on a running job asks ZenML every 10 s (a
    # process each time), CPU the training would wait for on a 2-core machine
    end = time.monotonic() + RUN_TIMEOUT_S
    while ui_server.jobs.get(job_id).state == RUNNING and time.monotonic() < end:
        time.sleep(5)
    try:
        refresh_until(page, rf"{job.run_names[0]}\s*completed", 120)
    except AssertionError:
        pytest.fail(f"run {job.run_names[0]} did not complete:\n{ui_server.jobs.log_tail(job_id)[-6000:]}")
    return job_id


def test_new_run_reaches_completed_with_a_loss_curve(page, completed_run, ui_server, tmp_path):
    job = ui_server.jobs.get(completed_run)
    assert job.state == "completed" and job.exit_code == 0
    # the newest run is picked after a refresh: its steps, log and loss curve
    expect(page.locator("#run-status")).to_contain_text(f"ZenML run {job.run_names[0]}: completed")
    expect(page.locator("#run-steps")).to_contain_text("register_model")
    expect(page.locator("#loss-curve img")).to_be_visible()
    expect(page.locator("#run-artifacts")).to_contain_text("loss_curve")
    assert "Step register_model has finished" in field(page, "run-log").input_value()
    shot(page, tmp_path, "runs")


def test_validate_shows_the_bad_row_and_its_reason(page, ui_server, tmp_path):
    rows = json.loads((ui_server.project / "example_data" / "eval.json").read_text())[:5]
    turns = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "x"}]
    rows[3] = {"id": "broken-row", "image": "no/such/picture.png", "conversations": turns}
    (ui_server.project / "example_data" / "media" / "browser_bad.json").write_text(json.dumps(rows))
    tab(page, "Data")
    field(page, "data-path").fill("example_data/media/browser_bad.json")
    page.locator("#validate").click()
    summary = "example_data/media/browser_bad.json: 1 of 5 rows are invalid"
    expect(field(page, "validate-summary")).to_have_value(summary)
    table = page.locator("#bad-rows")
    expect(table).to_contain_text("broken-row")
    expect(table).to_contain_text("no/such/picture.png")
    shot(page, tmp_path, "data")


def test_try_the_trained_checkpoint_with_an_image(page, completed_run, ui_server, tmp_path):
    """The completed run's merged checkpoint (the ZenML artifact) with an uploaded held-out image: generated text,
    not the UI's note for an answer ended at once nor a loading error."""
    image = ui_server.project / TRY_IMAGE
    tab(page, "Try")
    field(page, "try-ref").fill("merged_model")  # the ZenML artifact: the completed run's merged checkpoint
    page.locator("#try-image input[type=file]").set_input_files(str(image))
    expect(page.locator("#try-image img")).to_be_visible()
    field(page, "try-prompt").fill("What color is the shape?")  # a question of the training data
    page.locator("#try-generate").click()
    answer = field(page, "try-answer")
    expect(answer).not_to_have_value("", timeout=300_000)
    text = answer.input_value()
    assert text.strip() and text != NO_TEXT and not text.startswith("cannot load"), text
    shot(page, tmp_path, "try")


def test_models_lists_the_registered_version(page, completed_run, tmp_path):
    tab(page, "Models")
    page.locator("#list-versions").click()
    expect(page.locator("#versions")).to_contain_text("champion")
    expect(page.locator("#versions")).to_contain_text("smoke_accuracy")
    shot(page, tmp_path, "models")


def test_stop_a_running_job(page, ui_server, tmp_path):
    job_id = start_from_form(page, epochs="50")
    jobs = ui_server.jobs
    assert jobs.get(job_id).state == "running"
    refresh_until(page, rf"{job_id}\s*running", 300)
    pick = page.locator("#run-pick input")
    pick.fill(f"job:{job_id}")
    pick.press("Enter")
    expect(page.locator("#run-status")).to_contain_text(f"job {job_id}: running")
    pgid = jobs.get(job_id).pgid
    assert not processes_gone(pgid)
    page.locator("#run-stop").click()
    expect(page.locator("#runs-note")).to_contain_text(f"job {job_id}: stopped")
    expect(page.locator("#run-status")).to_contain_text(f"job {job_id}: stopped")
    assert processes_gone(pgid)  # the zenml CLI, the pipeline and every child: the whole process group
    assert jobs.get(job_id).state == "stopped"
    shot(page, tmp_path, "stopped")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        assert r.status == 200, url
        return r.read()


def test_zenml_dashboard_serves_the_run_and_its_visualizations(completed_run, ui_server):
    """`zenml login --local` from the installed environment (zenml[server]) on a free loopback port, in the shared
    run's isolated ZenML config (ZENML_CONFIG_PATH): the dashboard page, and through the server's REST API the run with
    the HTML visualizations of its steps; then `zenml logout --local` stops it."""
    run_name = ui_server.jobs.get(completed_run).run_names[0]
    port = free_port()
    env = ui_server.env
    rc, out = zenml_run(env, "login", "--local", "--port", str(port), "--ip-address", "127.0.0.1", timeout=600)
    base = f"http://127.0.0.1:{port}"
    try:
        assert rc == 0 and base in out, out[-3000:]
        assert b"<html" in _get(base + "/").lower()
        runs = json.loads(_get(f"{base}/api/v1/runs?name={run_name}"))["items"]
        assert [r["body"]["status"] for r in runs] == ["completed"]
        steps = json.loads(_get(f"{base}/api/v1/steps?pipeline_run_id={runs[0]['id']}&hydrate=true&size=50"))["items"]
        outputs = {name: v[0] for s in steps for name, v in (s["resources"]["outputs"] or {}).items()}
        for name in ("validation_report", "loss_curve", "smoke_report"):
            shown = json.loads(_get(f"{base}/api/v1/artifact_versions/{outputs[name]['id']}/visualize?index=0"))
            assert shown["type"] == "html" and "<" in shown["value"], name
        assert (
            "<img"
            in json.loads(_get(f"{base}/api/v1/artifact_versions/{outputs['loss_curve']['id']}/visualize"))["value"]
        )
    finally:
        rc, out = zenml_run(env, "logout", "--local", timeout=300)
    assert rc == 0, out[-2000:]
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/", timeout=10)
