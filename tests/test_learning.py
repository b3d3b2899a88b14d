"""Training learns something visual: the demo recipe answers held-out questions well above chance, and the same
recipe with images shuffled across rows stays near chance."""

import random
from pathlib import Path

import pytest

from components.config import load_config
from components.data.media import load_image, load_video
from components.data.prepare import prepare_dataset
from components.release.smoke import smoke_test
from components.train.recipe import RowsDataset, train

ROOT = Path(__file__).parent.parent


def _run(tmp_path, shuffle: bool):
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    dataset, _ = prepare_dataset(cfg, base=ROOT)
    train_rows = [s for s in dataset.train if s.modality == "image"]
    if shuffle:
        images = [s.images for s in train_rows]
        random.Random(0).shuffle(images)
        for s, imgs in zip(train_rows, images, strict=True):
            s.images = imgs
    frames = cfg.data.num_frames

    def vid(p):
        return load_video(p, frames)[0]

    ds = RowsDataset(train_rows, load_image, vid)
    eval_rows = [s for s in dataset.eval if s.modality == "image"]
    res = train(cfg, None, ds, RowsDataset(eval_rows, load_image, vid), tmp_path / "out")  # None: cfg.model
    evals = [h["eval_loss"] for h in res.log_history if "eval_loss" in h]
    metrics, _ = smoke_test(str(res.checkpoint), eval_rows, load_image, vid, num_samples=len(eval_rows))
    return metrics["smoke_accuracy"], evals


@pytest.mark.slow
def test_learns_visual_task_and_shuffled_images_do_not(tmp_path):
    acc, evals = _run(tmp_path / "real", shuffle=False)
    acc_shuffled, _ = _run(tmp_path / "shuffled", shuffle=True)
    # image rows: colour (4-way) and left/right (2-way) questions; chance is about 0.33
    assert evals[-1] < evals[0]
    assert acc >= 0.7, acc
    assert acc_shuffled <= 0.5, acc_shuffled
