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
