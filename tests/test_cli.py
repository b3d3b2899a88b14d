import json
import shutil
from pathlib import Path

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
    assert f"resolved against images: {good}, videos: {tmp_path}" in capsys.readouterr().out
