import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from components.cli import main

ROOT = Path(__file__).parent.parent


def test_models_lists_every_family(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"qwen2_vl", "qwen2_5_vl", "llava", "llava_onevision"} <= {r["family"] for r in rows}
    assert any(r["hub_path"] == "Qwen/Qwen2.5-VL-3B-Instruct" for r in rows)


def test_validate_names_every_bad_row(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    media = tmp_path / "media"
    shutil.copytree(ROOT / "example_data" / "media" / "eval", media)
    img = sorted(p.name for p in media.glob("*.png"))[0]
    (media / "corrupt.png").write_bytes(b"not a png")
    rows = [
        {
            "id": "ok",
            "image": img,
            "conversations": [{"from": "human", "value": "<image>\nColor?"}, {"from": "gpt", "value": "red"}],
        },
        {
            "id": "missing",
            "image": "nope.png",
            "conversations": [{"from": "human", "value": "<image>\nColor?"}, {"from": "gpt", "value": "red"}],
        },
        {
            "id": "count",
            "image": img,
            "conversations": [{"from": "human", "value": "Color?"}, {"from": "gpt", "value": "red"}],
        },
        {"id": "order", "conversations": [{"from": "gpt", "value": "hi"}, {"from": "human", "value": "x"}]},
        {
            "id": "corrupt",
            "image": "corrupt.png",
            "conversations": [{"from": "human", "value": "<image>\nC?"}, {"from": "gpt", "value": "red"}],
        },
    ]
    data = tmp_path / "bad.json"
    data.write_text(json.dumps(rows))
    assert main(["validate", str(data), "--image-folder", str(media)]) == 1
    err = capsys.readouterr().err
    for i, rid in [(1, "missing"), (2, "count"), (3, "order"), (4, "corrupt")]:
        assert f"row {i} (id={rid})" in err
    assert "row 0 " not in err
    assert "placeholder count mismatch" in err


def _user_data(tmp_path: Path) -> Path:
    """A user's file named like the example data (`train/img_0001.png`, which exists, valid, in example_data/media),
    whose own folder holds a corrupt image under that name."""
    assert (ROOT / "example_data" / "media" / "train" / "img_0001.png").is_file()
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "img_0001.png").write_bytes(b"not a png")
    row = {
        "id": "u0",
        "image": "train/img_0001.png",
        "conversations": [{"from": "human", "value": "<image>\nColor?"}, {"from": "gpt", "value": "red"}],
    }
    (tmp_path / "mydata.json").write_text(json.dumps([row]))
    return tmp_path / "mydata.json"


def test_validate_checks_the_users_media_not_the_examples(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = _user_data(tmp_path)
    # the demo config's folders belong to the demo's data: the user's file is checked against its own folder
    assert main(["validate", str(data), "--config", "configs/demo.yaml"]) == 1
    err = capsys.readouterr().err
    assert "row 0 (id=u0): [corrupt_image]" in err and f"resolved against {tmp_path}" in err
    # a folder given on the command line wins: the example's valid image under the same name
    media = ROOT / "example_data" / "media"
    assert main(["validate", str(data), "--config", "configs/demo.yaml", "--image-folder", str(media)]) == 0
    out = capsys.readouterr().out
    assert "1 rows, all valid" in out and f"resolved against {media}" in out


def test_validate_uses_the_configs_folders_for_its_own_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = _user_data(tmp_path)
    good = tmp_path / "good"
    (good / "train").mkdir(parents=True)
    shutil.copy(ROOT / "example_data" / "media" / "train" / "img_0001.png", good / "train")
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {{train_path: {data}, image_folder: {good}}}\n")
    assert main(["validate", str(data), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"resolved against images: {good}, videos: {tmp_path}" in out
    # how training would batch the rows: the default config packs the demo's Qwen2-VL, with the chunked loss
    assert "training batches: packed (train.packing: auto, and family qwen2_vl packs); loss: chunked" in out


def test_validate_refuses_packing_true_on_a_family_that_cannot_pack(tmp_path, capsys, monkeypatch):
    """`train.packing: true` on LFM2-VL (short convolutions along the row): exit 2 naming the family and its reason,
    before any row is read."""
    monkeypatch.chdir(ROOT)
    config = tmp_path / "run.yaml"
    config.write_text("model: {model_id: tiny-lfm2-vl, family: lfm2_vl, tiny: true}\ntrain: {packing: true}\n")
    assert main(["validate", "example_data/train.json", "--config", str(config)]) == 2
    err = capsys.readouterr().err  # (a first use builds the tiny checkpoint: its progress bar comes before)
    message = err.splitlines()[-1]
    assert message.startswith(f"{config}: train.packing: true, but family lfm2_vl cannot pack: Packing off: LFM2")
    assert "Set train.packing: auto" in err


README_ROW = {
    "id": "1",
    "image": "cat.png",
    "conversations": [{"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A cat."}],
}


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("row.json", json.dumps(README_ROW).encode(), "top level must be a list of rows, got dict"),
        ("bad.json", b'[{"id": 1,}]', "line 1 column 11: Expecting property name enclosed in double quotes"),
        ("latin1.json", '[{"id": "caf\xe9"}]'.encode("latin-1"), "not UTF-8 (byte 12: invalid continuation byte)"),
        ("missing.json", None, "no such file"),
    ],
)
def test_validate_file_level_errors_are_one_line(tmp_path, capsys, monkeypatch, name, content, reason):
    """The README's example row saved as a file, bad JSON, a bad encoding, a missing file: one line naming the file
    and the reason, exit 1, no traceback (an exception escaping main would fail the test)."""
    monkeypatch.chdir(ROOT)
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().err == f"{path}: {reason}\n"


def test_validate_config_errors_are_path_message_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    demo = (ROOT / "configs" / "demo.yaml").read_text()
    typo = tmp_path / "typo.yaml"
    typo.write_text(demo.replace("epochs: 12", "epoch: 12").replace("num_frames: 4", "num_frames: 0"))
    assert main(["validate", "example_data/train.json", "--config", str(typo)]) == 2
    assert capsys.readouterr().err == (
        f"Invalid config {typo}:\n"
        "  data.num_frames: Input should be greater than or equal to 1 (got 0)\n"
        "  train.epoch: unknown key (did you mean train.epochs?)\n"
    )


def test_sweep_only_unknown_name_fails(capsys):
    """`lmms sweep --only` with a typo or a model id runs nothing and fails, listing the names it takes."""
    assert main(["sweep", "--only", "nosuch,tiny-gemma3,qwen2_vl"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "--only nosuch: unknown"
    assert err[1] == "--only tiny-gemma3: a model id (of family gemma3); --only takes family names and model types"
    assert err[2].startswith("known family names: ") and "qwen2_vl" in err[2].split(": ")[1].split(", ")
    assert err[3].startswith("known model types: ") and "qwen2_5_vl" in err[3].split(": ")[1].split(", ")
    assert main(["sweep", "--only", "gema3"]) == 2
    assert capsys.readouterr().err.startswith("--only gema3: unknown (did you mean gemma3 or gemma3n")


def test_library_noise_filtered_not_ours():
    """quiet_library_noise drops the listed library messages only: a transformers notice about a version already past
    (one about a version to come stays), Great Expectations' INFO lines, libraries' FutureWarnings (ours stay), MLflow's
    requests for type hints and an input example on our pyfunc model (the same words from our code stay)."""
    from components.noise import quiet_library_noise

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    video = logging.getLogger("transformers.models.qwen2_vl.video_processing_qwen2_vl")
    gx = logging.getLogger("great_expectations.data_context.types.base")
    keep = Keep()
    with warnings.catch_warnings(record=True) as caught:
        quiet_library_noise()
        quiet_library_noise()  # idempotent
        for logger in (video, gx):
            logger.addHandler(keep)
        try:
            video.warning("In v5.22 the capped behavior will become the default.")
            video.warning("In v99.1 something will change.")
            gx.setLevel(logging.INFO)  # what GX does on import
            gx.info("Created temporary directory '/tmp/x' for ephemeral docs site")
            gx.warning("a GX warning")
        finally:
            for logger in (video, gx):
                logger.removeHandler(keep)
        warnings.warn_explicit("old torch API", FutureWarning, "torch/x.py", 1, module="torch.x")
        warnings.warn_explicit("our own", FutureWarning, "components/x.py", 1, module="components.x")
        for text in ("\x1b[33mAdd type hints to the \x1b[0mpredict\x1b[33m method to enable data validation",
                     "\x1b[1;33mAn input example was not provided when logging the model. To ensure"):  # fmt: skip
            warnings.warn_explicit(text, UserWarning, "mlflow/pyfunc/__init__.py", 1, module="mlflow.pyfunc")
        warnings.warn_explicit("Add type hints to the predict method", UserWarning, "components/x.py", 1,
                               module="components.x")  # fmt: skip
    assert keep.messages == ["In v99.1 something will change.", "a GX warning"]
    assert [str(w.message) for w in caught] == ["our own", "Add type hints to the predict method"]
    assert sum(isinstance(f, type(video.filters[0])) for f in video.filters) == 1


@pytest.mark.slow
def test_lmms_validate_demo_is_quiet():
    """`lmms validate` on the demo data prints its result and no library noise: not the transformers notice about
    v5.22 (video rows), nor GX's INFO line, nor FutureWarnings."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lmms = [sys.executable, "-c", "import sys; from components.cli import main; sys.exit(main())"]
    proc = subprocess.run(
        [*lmms, "validate", "example_data/train.json", "--config", "configs/demo.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows, all valid" in proc.stdout
    assert proc.stderr == "", proc.stderr[-3000:]
