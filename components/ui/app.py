"""`lmms ui`: a Gradio app over what exists — the typed RunConfig (New run), the ZenML client through
`python -m pipelines.runs json` and the job manager (Runs), `lmms validate` / `lmms labels` code (Data), the MLflow
registry and promotion (Models), `lmms infer` loading (Try). It re-implements none of them. docs/ui.md.

    python -m components.ui.app [--host 127.0.0.1] [--port 7860] [--auth user:pass] [--project DIR] [--jobs-dir DIR]
                                [--max-upload-mb 200] [--data-root DIR ...]

Security: loopback by default; any other address needs `--auth`; never a share link; the files the browser may fetch
are those under the project, the data roots, the run directories and the local artifact store (Gradio's
allowed_paths); commands are argv lists (components/ui/jobs.py); uploads are size-limited; config names are checked.
"""

from __future__ import annotations

import argparse
import ast
import html
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import matplotlib
import uvicorn
import yaml
from fastapi import FastAPI

from components.config import ConfigError, RunConfig, config_for_data_file, load_config, parse_config, read_yaml
from components.data import media
from components.data.labels import label_records
from components.data.prepare import prepare_dataset
from components.data.report import DatasetInvalid
from components.data.rows import DatasetFileError
from components.models.catalog import supported_models_table
from components.release.inference import generate, load_for_inference, resolve_infer_ref
from components.release.promote import CHAMPION, PREVIOUS, roll_back, set_champion
from components.release.registry import absolute_uri, default_tracking_uri
from components.ui import form
from components.ui.jobs import RUNNING, JobManager
from components.ui.security import check_bind, parse_auth

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LOG_LINE = re.compile(r"^\{'(?:loss|eval_loss)'.*\}$")
NO_TEXT = "(no text: the model ended its answer at once)"  # Try's answer when the model generated nothing


def loss_points(log_text: str) -> dict[str, list[tuple[float, float]]]:
    """(epoch, value) of the train `loss` and `eval_loss` lines the Trainer writes to the log while it trains."""
    out: dict[str, list[tuple[float, float]]] = {"loss": [], "eval_loss": []}
    for line in log_text.splitlines():
        line = line.strip()
        if not LOG_LINE.match(line):
            continue
        try:
            d = ast.literal_eval(line)
            for key in out:
                if key in d and "epoch" in d:
                    out[key].append((float(d["epoch"]), float(d[key])))
        except (ValueError, SyntaxError):
            continue
    return out


def loss_png(points: dict[str, list[tuple[float, float]]], path: Path) -> Path | None:
    if not any(points.values()):
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for key, pts in points.items():
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if key == "eval_loss" else None, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


class App:
    """The state behind the UI: the project folder, its jobs, and the few things cached between requests."""

    def __init__(self, project: Path, jobs_dir: Path, data_roots: list[Path] | None = None):
        self.project = project.resolve()
        self.jobs = JobManager(jobs_dir)
        self.data_roots = [p.resolve() for p in data_roots or []]
        self._models: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    # ---- paths
    def project_path(self, p: str) -> Path:
        """A path typed in the UI, relative to the project; outside the project and the data roots it is refused."""
        path = Path(p).expanduser()
        path = (path if path.is_absolute() else self.project / path).resolve()
        roots = [self.project, *self.data_roots, Path(gr.utils.get_upload_folder()).resolve()]
        if not any(path.is_relative_to(r) for r in roots):
            raise ValueError(f"{p}: outside the project and the data roots ({', '.join(map(str, roots))})")
        return path

    def config_files(self) -> list[str]:
        return sorted(str(p.relative_to(self.project)) for p in (self.project / "configs").glob("*.yaml"))

    # ---- New run
    def load(self, name: str) -> tuple[list[Any], str, str]:
        """(widget values, ZenML keys as YAML, message) of a config file under configs/."""
        path = self.project_path(name)
        raw = read_yaml(path)
        cfg = load_config(path)
        extra = {k: v for k, v in raw.items() if k not in ("parameters", "run_name")} if "parameters" in raw else {}
        return form.form_values(cfg), yaml.safe_dump(extra, sort_keys=False) if extra else "", f"loaded {name}"

    def document(self, values: list[Any], zenml_yaml: str, run_name: str | None = None) -> tuple[dict, list[str]]:
        config, problems = form.config_from_values(values)
        try:
            keys = yaml.safe_load(zenml_yaml or "") or {}
            if not isinstance(keys, dict):
                raise ValueError(f"a mapping expected, got {type(keys).__name__}")
        except (yaml.YAMLError, ValueError) as e:
            keys, problems = {}, [*problems, f"ZenML keys: not valid: {' '.join(str(e).split())}"]
        run_keys = set(RunConfig.model_fields) - {"model"}
        problems += [f"ZenML keys: {k}: a run config section, set it in the form" for k in keys if k in run_keys]
        return form.zenml_document(config, keys, run_name), problems

    def preview(self, values: list[Any], zenml_yaml: str, name: str) -> tuple[str, str, str]:
        """(YAML, the command, the problems) for the form as it is."""
        doc, problems = self.document(values, zenml_yaml)
        target = f"configs/{name or 'my_run'}.yaml"
        cmd = " ".join(form.command(target))
        msg = "\n".join(problems) if problems else "valid"
        return form.to_yaml(doc), cmd, msg

    def save(self, values: list[Any], zenml_yaml: str, name: str) -> str:
        if not _NAME.match(name or "") or name.endswith(".yaml"):
            return f"config name {name!r}: letters, digits, _ . - only (no folder, no .yaml)"
        doc, problems = self.document(values, zenml_yaml)
        if problems:
            return "not saved:\n" + "\n".join(problems)
        path = self.project / "configs" / f"{name}.yaml"
        path.write_text(form.to_yaml(doc))
        return f"saved configs/{name}.yaml"

    def _zenml_exe(self) -> str:
        exe = Path(sys.executable).parent / "zenml"
        return str(exe) if exe.exists() else "zenml"

    def start(self, values: list[Any], zenml_yaml: str, name: str) -> tuple[str, str]:
        """(message, job id): the pipeline on the form's config, as a detached job (argv, no shell)."""
        job_id = self.jobs.new_id()
        run_name = f"ui-{job_id}-1"
        doc, problems = self.document(values, zenml_yaml, run_name)
        if problems:
            return "not started:\n" + "\n".join(problems), ""
        cfg_path = str(self.jobs.job_dir(job_id) / "config.yaml")
        argv = [self._zenml_exe(), "pipeline", "run", form.PIPELINE, "-c", cfg_path]
        job = self.jobs.start(
            argv, self.project, name=name or "finetune", config_text=form.to_yaml(doc), run_name=run_name, job_id=job_id
        )
        return f"started job {job.id} (ZenML run {run_name}): {' '.join(form.command(cfg_path))}", job.id

    def resume(self, job_id: str) -> str:
        job = self.jobs.get(job_id)
        run_name = f"ui-{job.id}-{job.attempts + 1}"
        if job.config:
            doc = yaml.safe_load(Path(job.config).read_text())
            doc["run_name"] = run_name
            Path(job.config).write_text(form.to_yaml(doc))
        job = self.jobs.resume(job_id, run_name=run_name)
        return f"resumed job {job.id} as attempt {job.attempts} (ZenML run {run_name})"

    # ---- Runs
    def zenml_runs(self, run: str | None = None, limit: int = 20) -> dict:
        args = [sys.executable, "-m", "pipelines.runs", "json", "--limit", str(limit), *(["--run", run] if run else [])]
        proc = subprocess.run(args, cwd=self.project, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            return {"runs": [], "error": (proc.stderr.strip().splitlines() or ["ZenML lookup failed"])[-1]}
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def runs_table(self) -> tuple[list[list[str]], list[str], str]:
        """(rows, the names to pick from, a note): ZenML runs (UI-started or not) and UI jobs without a run yet."""
        found = self.zenml_runs()
        jobs = self.jobs.list()
        by_run = {r: j for j in jobs for r in j.run_names}
        rows, names = [], []
        seen_jobs = {by_run[r["name"]].id for r in found.get("runs", []) if r["name"] in by_run}
        for j in jobs:  # UI jobs whose ZenML run is not there (yet): the newest, listed first
            if j.id not in seen_jobs:
                started = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(j.started))
                what = "(no ZenML run yet)" if j.state == RUNNING else ""
                rows.append([j.run_names[-1] if j.run_names else "", what, started, j.id, j.state, ""])
                names.append(f"job:{j.id}")
        for r in found.get("runs", []):
            job = by_run.get(r["name"])
            steps = ", ".join(f"{s['name']}: {s['status']}" for s in r["steps"])
            start = (r["start"] or "")[:19]
            rows.append([r["name"], r["status"], start, job.id if job else "", job.state if job else "", steps])
            names.append(r["name"])
        return rows, names, found.get("error", "")

    def _job_for(self, selected: str):
        if not selected:
            return None
        if selected.startswith("job:"):
            try:
                return self.jobs.get(selected[4:])
            except (KeyError, ValueError):
                return None
        return next((j for j in self.jobs.list() if selected in j.run_names), None)

    def run_detail(self, selected: str) -> tuple[str, list[list[str]], str, str | None, str]:
        """(status line, steps table, log tail, loss-curve image, artifacts as markdown) of a run or job."""
        job = self._job_for(selected)
        run = None
        if selected and not selected.startswith("job:"):
            found = self.zenml_runs(selected)
            run = found["runs"][0] if found.get("runs") else None
        elif job and job.run_names:
            found = self.zenml_runs(job.run_names[-1])
            run = found["runs"][0] if found.get("runs") else None
        status = []
        if run:
            reason = f" ({run['reason']})" if run["reason"] else ""
            status.append(f"ZenML run **{run['name']}**: {run['status']}{reason}")
        if job:
            status.append(
                f"job {job.id}: {job.state}"
                + (f" ({job.reason})" if job.reason else "")
                + f", attempt {job.attempts}, pid {job.pid}"
            )
        steps = [
            [s["name"], s["status"], (s["start"] or "")[:19], (s["end"] or "")[:19]]
            for s in (run or {}).get("steps", [])
        ]
        log = ANSI.sub("", self.jobs.log_tail(job.id)) if job else ""  # the CLI's colours, unreadable in a text box
        image = None
        if job:
            points = loss_points(Path(job.log).read_text(errors="replace"))
            image = loss_png(points, self.jobs.job_dir(job.id) / "loss.png")
        if image is None and run:  # a run started elsewhere: the finetune step's own plot in its run directory
            ft = next((s for s in run["steps"] if s["name"] == "finetune"), None)
            png = Path(str((ft or {}).get("metadata", {}).get("run_dir", ""))) / "loss.png"
            image = png if ft and png.is_file() else None
        artifacts = []
        for a in (run or {}).get("artifacts", []):
            shown = [v for v in a["visualizations"] if os.path.isfile(v["uri"])]
            links = " ".join(f"[{v['type']}](/gradio_api/file={v['uri']})" for v in shown)
            artifacts.append(f"- {a['step']} → **{a['name']}** v{a['version']} ({a['type']}): `{a['uri']}` {links}")
        return (
            "  \n".join(status) or "nothing selected",
            steps,
            log,
            str(image) if image else None,
            "\n".join(artifacts) or "no artifacts yet",
        )

    def live_detail(self, selected: str):
        """run_detail while the selected UI job runs; nothing changes otherwise (no ZenML query every tick)."""
        job = self._job_for(selected) if selected else None
        if job is None or job.state != RUNNING:
            return tuple(gr.update() for _ in range(5))
        return self.run_detail(selected)

    def stop(self, selected: str) -> str:
        job = self._job_for(selected)
        if job is None:
            return f"{selected or 'nothing'}: not a job started from this UI (stop it where it runs)"
        job = self.jobs.stop(job.id)
        return f"job {job.id}: {job.state}"

    def resume_selected(self, selected: str) -> str:
        job = self._job_for(selected)
        if job is None:
            return f"{selected or 'nothing'}: not a job started from this UI"
        try:
            return self.resume(job.id)
        except ValueError as e:
            return str(e)

    # ---- Data
    def _config_for(self, config_name: str) -> RunConfig:
        return load_config(self.project_path(config_name)) if config_name else parse_config({})

    def validate_data(self, data_path: str, config_name: str, model: str) -> tuple[str, list[list[Any]], str]:
        """(summary, bad rows [index, id, kind, reason], report HTML), from the code of `lmms validate`."""
        try:
            path = self.project_path(data_path)
            if not path.is_file():
                return f"{data_path}: no such file", [], ""
            cfg = config_for_data_file(self._config_for(config_name), str(path), model=model or None)
            _, reports = prepare_dataset(cfg, self.project)  # a config's relative folders: relative to the project
        except DatasetInvalid as e:
            r = e.report
            bad = [[i.index, i.row_id or "", i.kind, i.reason] for i in r.issues]
            return f"{data_path}: {len(r.issues_by_row())} of {r.total} rows are invalid", bad, r.to_html()
        except (DatasetFileError, ConfigError, ValueError) as e:
            return str(e), [], ""
        r = reports[0][1]
        return f"{data_path}: {r.total} rows, all valid; modalities {r.modality_counts}", [], r.to_html()

    def labels(self, data_path: str, config_name: str, limit: float | None) -> str:
        """HTML of the first rows as trained: the text after the chat template, supervised spans highlighted."""
        try:
            path = self.project_path(data_path)
            cfg = self._config_for(config_name)
            records = label_records(cfg, path, int(limit) if limit else 3, base=self.project)
        except (DatasetInvalid, DatasetFileError, ConfigError, ValueError) as e:
            return f"<pre>{html.escape(str(e))}</pre>"
        parts = []
        for rec in records:
            parts.append(f"<h4>row {rec.index}: {rec.tokens} tokens, {rec.supervised_tokens} supervised</h4>")
            for seq in rec.sequences:
                body = "".join(
                    f'<mark class="supervised" style="background:#c6f6c6">{html.escape(p.text)}</mark>'
                    if p.supervised
                    else html.escape(p.text)
                    for p in seq
                )
                parts.append(f'<pre style="white-space:pre-wrap">{body}</pre>')
        return "".join(parts) or "<p>no rows</p>"

    # ---- Models
    def _mlflow(self, tracking_uri: str):
        from mlflow import MlflowClient

        uri = absolute_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri())
        return MlflowClient(tracking_uri=uri, registry_uri=uri), uri

    def models(self, tracking_uri: str, name: str) -> tuple[list[list[Any]], str]:
        client, uri = self._mlflow(tracking_uri)
        try:
            versions = client.search_model_versions(f"name = '{name}'")
        except Exception as e:  # noqa: BLE001  (an MLflow store error, shown as it is)
            return [], f"{uri}: {e}"
        by_version: dict[str, list[str]] = {}
        try:
            for alias, v in client.get_registered_model(name).aliases.items():
                by_version.setdefault(str(v), []).append(alias)
        except Exception:  # noqa: BLE001
            pass
        rows = []
        for mv in sorted(versions, key=lambda m: -int(m.version)):
            metrics = dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
            smoke = {k: round(v, 4) for k, v in metrics.items() if k.startswith("smoke")}
            rows.append(
                [
                    int(mv.version),
                    ", ".join(sorted(by_version.get(str(mv.version), []))),
                    json.dumps(smoke),
                    mv.tags.get("promotion", ""),
                    mv.source,
                ]
            )
        return rows, f"{len(rows)} versions of {name} in {uri}"

    def promote(self, tracking_uri: str, name: str, version: float | None, confirm: bool) -> str:
        if not confirm:
            return "tick the confirmation first: this moves the champion alias"
        if not version:
            return "give the version to promote"
        client, _ = self._mlflow(tracking_uri)
        out = set_champion(client, name, int(version), reason="promoted in lmms ui")
        return f"{name}: {CHAMPION} is version {out['champion']}, {PREVIOUS} is {out['previous']}"

    def rollback(self, tracking_uri: str, name: str, confirm: bool) -> str:
        if not confirm:
            return "tick the confirmation first: this moves the champion alias"
        client, _ = self._mlflow(tracking_uri)
        try:
            out = roll_back(client, name)
        except ValueError as e:
            return str(e)
        return f"{name}: rolled back; {CHAMPION} is version {out['champion']}, {PREVIOUS} is {out['previous']}"

    # ---- Try
    def try_model(self, ref: str, prompt: str, image: str | None, video: str | None, max_new_tokens: float) -> str:
        if not ref:
            return "give a checkpoint: a folder, a ZenML artifact (merged_model) or models:/<name>@<alias>"
        try:
            if not ref.startswith("models:/") and Path(ref).expanduser().exists():
                ref = str(self.project_path(ref))
            path = resolve_infer_ref(ref, project=self.project)
        except (ValueError, OSError) as e:
            return f"cannot load {ref}: {e}"
        with self._lock:
            if path not in self._models:
                self._models = {path: load_for_inference(path)}  # one model in memory at a time
            model, processor = self._models[path]
            content = ([{"type": "image"}] if image else []) + ([{"type": "video"}] if video else [])
            content.append({"type": "text", "text": prompt or ""})
            images = [media.load_image(image)] if image else []
            videos = [media.load_video(video, 8)[0]] if video else []
            messages = [{"role": "user", "content": content}]
            answer = generate(model, processor, messages, images, videos, int(max_new_tokens))
        return answer if answer.strip() else NO_TEXT


def build(app: App, dashboard_url: str, mlflow_url: str) -> gr.Blocks:
    leaves = form.leaves()
    configs = app.config_files()
    model_ids = [r["id"] for r in supported_models_table()]
    demo_cfg = "configs/demo.yaml" if "configs/demo.yaml" in configs else None
    with gr.Blocks(title="lmms-pipeline") as demo:
        gr.Markdown(
            f"# lmms-pipeline\nFine-tune vision-language models. ZenML dashboard: [{dashboard_url}]({dashboard_url}) "
            f"(`zenml login --local`) · MLflow: [{mlflow_url}]({mlflow_url}) (`mlflow ui`)"
        )
        with gr.Tab("New run", id="new"):
            with gr.Row():
                cfg_name = gr.Dropdown(
                    configs, value=demo_cfg, label="Config file", allow_custom_value=True, elem_id="cfg-file"
                )
                load_btn = gr.Button("Load", elem_id="load-config")
                save_name = gr.Textbox(label="Save as (configs/<name>.yaml)", value="my_run", elem_id="save-name")
                save_btn = gr.Button("Save", elem_id="save-config")
            widgets: list[gr.components.Component] = []
            by_section: dict[tuple[str, ...], list] = {}
            for leaf in leaves:
                by_section.setdefault(leaf.path[:-1], []).append(leaf)
            default_values = form.form_values(RunConfig())
            values = dict(zip([lf.key for lf in leaves], default_values, strict=True))
            for path, desc in form.sections():
                title = ".".join(path) + (f" — {desc}" if desc else "")
                with gr.Accordion(title, open=path in (("model",), ("train",))), gr.Row():
                    for leaf in by_section.get(path, []):
                        elem = "f-" + leaf.key.replace(".", "-")
                        label, info = leaf.key, leaf.description
                        if leaf.kind == "bool":
                            w = gr.Checkbox(value=values[leaf.key], label=label, info=info, elem_id=elem)
                        elif leaf.kind == "choice":
                            w = gr.Dropdown(
                                [form.choice_label(c) for c in leaf.choices],
                                value=values[leaf.key],
                                label=label,
                                info=info,
                                elem_id=elem,
                            )
                        elif leaf.key == "model.model_id":
                            w = gr.Dropdown(
                                model_ids,
                                value=values[leaf.key],
                                label=label,
                                info=info,
                                elem_id=elem,
                                allow_custom_value=True,
                            )
                        else:
                            w = gr.Textbox(value=values[leaf.key], label=label, info=info, elem_id=elem)
                        widgets.append(w)
            # widgets were made in section order: put them back in leaves() order
            order = [lf.key for path, _ in form.sections() for lf in by_section.get(path, [])]
            widgets = [widgets[order.index(lf.key)] for lf in leaves]
            zenml_keys = gr.Code(
                label="ZenML keys (enable_cache, model, steps, schedule, ...)", language="yaml", elem_id="zenml-keys"
            )
            problems = gr.Textbox(label="Check", elem_id="config-check", lines=2)
            with gr.Row():
                preview = gr.Code(label="YAML", language="yaml", elem_id="yaml-preview")
                cmd = gr.Textbox(label="Command", elem_id="command")
            start_btn = gr.Button("Start run", variant="primary", elem_id="start-run")
            start_msg = gr.Textbox(label="Started", elem_id="start-msg")
            job_id = gr.Textbox(label="Job", visible=False)

            def _load(name):
                try:
                    vals, extra, msg = app.load(name)
                except (ConfigError, ValueError) as e:
                    return [gr.update() for _ in leaves] + [gr.update(), str(e)]
                return [*vals, extra, msg]

            def _preview(*args):
                *vals, keys, name = args
                return app.preview(list(vals), keys, name)

            def _save(*args):
                *vals, keys, name = args
                return app.save(list(vals), keys, name)

            def _saved(msg: str):
                saved = msg.removeprefix("saved ") if msg.startswith("saved ") else None
                return gr.Dropdown(choices=app.config_files(), value=saved) if saved else gr.Dropdown()

            def _start(*args):
                *vals, keys, name = args
                return app.start(list(vals), keys, name)

            load_btn.click(_load, [cfg_name], [*widgets, zenml_keys, problems], api_name="load_config")
            gr.on(  # one live preview for every field: the YAML, the command and the config's own messages
                [w.change for w in [*widgets, zenml_keys, save_name]],
                _preview,
                [*widgets, zenml_keys, save_name],
                [preview, cmd, problems],
                show_progress="hidden",
                trigger_mode="always_last",
                api_visibility="private",
            )
            gr.Button("Check", visible=False).click(
                _preview, [*widgets, zenml_keys, save_name], [preview, cmd, problems], api_name="check_config"
            )
            save_btn.click(_save, [*widgets, zenml_keys, save_name], [problems], api_name="save_config").then(
                _saved, [problems], [cfg_name], api_visibility="private"
            )
            start_btn.click(_start, [*widgets, zenml_keys, save_name], [start_msg, job_id], api_name="start_run")
            demo.load(_load, [cfg_name], [*widgets, zenml_keys, problems], api_visibility="private")

        with gr.Tab("Runs", id="runs"):
            with gr.Row():
                refresh = gr.Button("Refresh", elem_id="runs-refresh")
                pick = gr.Dropdown([], label="Run or job", allow_custom_value=True, elem_id="run-pick")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="run-stop")
                resume_btn = gr.Button("Resume", elem_id="run-resume")
            note = gr.Markdown(elem_id="runs-note")
            table = gr.Dataframe(
                headers=["run", "status", "start", "job", "job state", "steps"], interactive=False, elem_id="runs-table"
            )
            status = gr.Markdown(elem_id="run-status")
            with gr.Row():
                steps = gr.Dataframe(headers=["step", "status", "start", "end"], interactive=False, elem_id="run-steps")
                curve = gr.Image(label="Loss curve", type="filepath", elem_id="loss-curve")
            log = gr.Textbox(label="Log (tail)", lines=14, max_lines=14, elem_id="run-log", autoscroll=True)
            artifacts = gr.Markdown(elem_id="run-artifacts")

            def _refresh(current):
                """The newest run is picked only when nothing valid is: a pick the user made stays, even when this
                answer arrives after it (a refresh still in flight carries the value of when it was clicked, and
                setting it would silently point Stop at the previously picked job)."""
                rows, names, err = app.runs_table()
                job = app._job_for(current) if current and current.startswith("job:") else None
                if job and job.run_names and job.run_names[-1] in names:  # the job's ZenML run is listed now
                    return rows, gr.update(choices=names, value=job.run_names[-1]), err
                if current and (current in names or job is not None):
                    return rows, gr.update(choices=names), err
                return rows, gr.update(choices=names, value=names[0] if names else None), err

            refresh.click(_refresh, [pick], [table, pick, note], api_name="list_runs").then(
                app.run_detail, [pick], [status, steps, log, curve, artifacts], api_visibility="private"
            )  # Refresh refreshes the picked run's detail too (its status may have changed with the same pick)
            pick.change(app.run_detail, [pick], [status, steps, log, curve, artifacts], api_name="run_detail")
            stop_btn.click(app.stop, [pick], [note], api_name="stop_job").then(
                app.run_detail, [pick], [status, steps, log, curve, artifacts], api_visibility="private"
            )
            resume_btn.click(app.resume_selected, [pick], [note], api_name="resume_job")
            timer = gr.Timer(10)  # live while a UI job runs: its log, loss curve and step statuses
            timer.tick(
                app.live_detail,
                [pick],
                [status, steps, log, curve, artifacts],
                show_progress="hidden",
                api_visibility="private",
            )

        with gr.Tab("Data", id="data"):
            with gr.Row():
                upload = gr.File(
                    label="Dataset file (JSON / JSONL)",
                    file_types=[".json", ".jsonl"],
                    type="filepath",
                    elem_id="data-upload",
                )
                data_path = gr.Textbox(
                    label="or a path in the project", value="example_data/eval.json", elem_id="data-path"
                )
                data_cfg = gr.Dropdown(
                    ["", *configs],
                    value=demo_cfg or "",
                    label="Config (model and data settings)",
                    elem_id="data-config",
                )
                data_model = gr.Textbox(label="Model (default: the config's)", elem_id="data-model")
            upload.upload(lambda f: f, [upload], [data_path], api_visibility="private")
            validate_btn = gr.Button("Validate", variant="primary", elem_id="validate")
            summary = gr.Textbox(label="Result", elem_id="validate-summary")
            bad = gr.Dataframe(headers=["row", "id", "kind", "reason"], interactive=False, elem_id="bad-rows")
            with gr.Accordion("Validation report", open=False):
                report = gr.HTML(elem_id="validation-report")
            with gr.Row():
                label_rows = gr.Number(label="Label view: first N rows", value=2, precision=0, elem_id="label-rows")
                labels_btn = gr.Button("Show labels", elem_id="show-labels")
            labels_html = gr.HTML(elem_id="labels")
            validate_btn.click(
                app.validate_data, [data_path, data_cfg, data_model], [summary, bad, report], api_name="validate_data"
            )
            labels_btn.click(app.labels, [data_path, data_cfg, label_rows], [labels_html], api_name="labels")

        with gr.Tab("Models", id="models"):
            with gr.Row():
                uri = gr.Textbox(
                    label="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else <project>/mlflow.db)",
                    elem_id="mlflow-uri",
                )
                name = gr.Textbox(label="Registered model", value=RunConfig().registry.model_name, elem_id="model-name")
                list_btn = gr.Button("List versions", elem_id="list-versions")
            versions = gr.Dataframe(
                headers=["version", "aliases", "smoke metrics", "promotion", "source"],
                interactive=False,
                elem_id="versions",
            )
            models_msg = gr.Textbox(label="Message", elem_id="models-msg")
            with gr.Row():
                version = gr.Number(label="Version", precision=0, elem_id="promote-version")
                confirm = gr.Checkbox(label="I confirm: move the champion alias", elem_id="promote-confirm")
                promote_btn = gr.Button("Promote to champion", elem_id="promote")
                rollback_btn = gr.Button("Roll back to previous", elem_id="rollback")
            list_btn.click(app.models, [uri, name], [versions, models_msg], api_name="list_models")
            promote_btn.click(app.promote, [uri, name, version, confirm], [models_msg], api_name="promote").then(
                app.models, [uri, name], [versions, gr.Textbox(visible=False)], api_visibility="private"
            )
            rollback_btn.click(app.rollback, [uri, name, confirm], [models_msg], api_name="rollback").then(
                app.models, [uri, name], [versions, gr.Textbox(visible=False)], api_visibility="private"
            )

        with gr.Tab("Try", id="try"):
            ref = gr.Textbox(
                label="Checkpoint: folder, ZenML artifact (merged_model), models:/<name>@<alias>",
                value="merged_model",
                elem_id="try-ref",
            )
            with gr.Row():
                image = gr.Image(label="Image", type="filepath", elem_id="try-image")
                video = gr.Video(label="Video", elem_id="try-video")
            prompt = gr.Textbox(label="Prompt", value="What color is the shape?", elem_id="try-prompt")
            max_new = gr.Number(label="Max new tokens", value=16, precision=0, elem_id="try-max-new")
            ask = gr.Button("Generate", variant="primary", elem_id="try-generate")
            answer = gr.Textbox(label="Answer", elem_id="try-answer")
            ask.click(app.try_model, [ref, prompt, image, video, max_new], [answer], api_name="try_model")
    return demo


def allowed_paths(app: App) -> list[str]:
    """What the browser may fetch: the project (configs, data, run directories under outputs/), the data roots, the
    jobs and the local ZenML artifact store (visualizations)."""
    paths = [app.project, *app.data_roots, app.jobs.dir]
    store = app.zenml_runs(limit=1).get("artifact_store")
    if store:
        paths.append(Path(store))
    return [str(p) for p in paths]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lmms ui", description="The web UI of lmms-pipeline (docs/ui.md).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; another needs --auth)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", help="user:password, required on any non-loopback address")
    p.add_argument("--project", default=".", help="the project folder: configs/, data, ZenML repository (default .)")
    p.add_argument("--jobs-dir", help="job records of UI-started runs (default <project>/outputs/ui/jobs)")
    p.add_argument("--data-root", action="append", default=[], help="a folder outside the project the UI may read")
    p.add_argument("--max-upload-mb", type=int, default=200)
    p.add_argument("--dashboard-url", default="http://127.0.0.1:8237", help="the ZenML dashboard (zenml login --local)")
    p.add_argument("--mlflow-url", default="http://127.0.0.1:5000", help="the MLflow UI (mlflow ui)")
    args = p.parse_args(argv)
    problem = check_bind(args.host, args.auth)
    if problem:
        print(f"lmms ui: {problem}", file=sys.stderr)
        return 2
    auth = parse_auth(args.auth)
    project = Path(args.project).resolve()
    app = App(
        project,
        Path(args.jobs_dir) if args.jobs_dir else project / "outputs" / "ui" / "jobs",
        [Path(d) for d in args.data_root],
    )
    os.chdir(project)
    demo = build(app, args.dashboard_url, args.mlflow_url)
    print(f"lmms ui on http://{args.host}:{args.port} (project {project}; jobs in {app.jobs.dir})", flush=True)
    # served by uvicorn on a FastAPI app of our own (Gradio's supported mount): there is no share-link code path at
    # all, and no start-up probe of the local URL (which gives up after 3 s on a loaded machine)
    server = FastAPI(title="lmms ui")
    gr.mount_gradio_app(
        server,
        demo.queue(default_concurrency_limit=4),
        path="",
        auth=auth,
        allowed_paths=allowed_paths(app),
        max_file_size=f"{args.max_upload_mb}mb",
        show_error=True,
        ssr_mode=False,
    )
    uvicorn.run(server, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
