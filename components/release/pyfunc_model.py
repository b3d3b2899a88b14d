"""MLflow pyfunc wrapper (models-from-code): `mlflow.pyfunc.load_model("models:/<name>@champion").predict(df)`.

Input: a DataFrame with a `prompt` column and optional `image` (path) and `video` (path) columns, all strings (the
registered signature, components/release/registry.py). Output: a list of generated answers, one string per row.
Params: `max_new_tokens` (32), `num_frames` (8). Weights are the logged checkpoint directory (safetensors), never a
pickle.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel

from components.data import media
from components.release.inference import generate, load_for_inference


def _path(value) -> str | None:
    """A media column's value: a non-empty string, else None (a missing value in a column is None or NaN)."""
    return value if isinstance(value, str) and value else None


class VLMPyfunc(PythonModel):
    def load_context(self, context):
        self.model, self.processor = load_for_inference(context.artifacts["checkpoint"])

    def predict(self, context, model_input, params=None):
        params = params or {}
        answers = []
        for row in model_input.to_dict(orient="records"):
            content, images, videos = [], [], []
            if image := _path(row.get("image")):
                content.append({"type": "image"})
                images.append(media.load_image(image))
            if video := _path(row.get("video")):
                content.append({"type": "video"})
                videos.append(media.load_video(video, int(params.get("num_frames", 8)))[0])
            content.append({"type": "text", "text": row["prompt"]})
            msgs = [{"role": "user", "content": content}]
            answers.append(
                generate(self.model, self.processor, msgs, images, videos, int(params.get("max_new_tokens", 32)))
            )
        return answers


mlflow.models.set_model(VLMPyfunc())
