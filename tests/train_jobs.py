"""A small training job for the distributed and resume tests: image rows whose media go through the media cache."""

from __future__ import annotations

import numpy as np
from PIL import Image

from components.artifacts import MediaCache, PreparedDataset, Sample
from components.config import DataConfig, LoraConfig, RunConfig, TrainConfig
from components.data.media_cache import MediaSettings, preprocess

QUESTIONS = [("What color is the shape?", "red"), ("Is the shape on the left or right?", "left")]
NUM_ROWS = 8


def image_rows(root, n: int = NUM_ROWS) -> tuple[PreparedDataset, MediaCache]:
    """`n` single-image rows whose media go through the media cache, as in the pipeline."""
    src = root / "media"
    src.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        path = src / f"img{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (56, 56, 3), dtype=np.uint8)).save(path)
        q, a = QUESTIONS[i % 2]
        samples.append(Sample(i, str(i), None, [("user", "<image>\n" + q), ("assistant", a)], images=[str(path)]))
    dataset = PreparedDataset(samples, [])
    settings = MediaSettings()
    res = preprocess(dataset.image_paths, [], settings, root / "cache", workers=0, progress=False)
    return dataset, MediaCache(str(root / "cache"), res.mapping, settings.__dict__)


def config(tmp_path, **train) -> RunConfig:
    return RunConfig(
        data=DataConfig(num_workers=0),
        train=TrainConfig(
            **{
                "precision": "fp32",
                "llm": "lora",
                "vision": "frozen",
                "projector": "full",
                "lora": LoraConfig(r=4, alpha=8, dropout=0.0),
                "per_device_batch_size": 2,
                "learning_rate": 1e-3,
                "warmup_ratio": 0,
                "logging_steps": 1,
                "max_length": 256,
                "output_dir": str(tmp_path / "outputs"),
                **train,
            }
        ),
    )
