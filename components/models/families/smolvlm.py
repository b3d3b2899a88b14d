"""SmolVLM2: the Idefics3 architecture with a small LLM; images split into tiles, and video as frames. (The first
SmolVLM releases are model_type idefics3 checkpoints and load through that family.)"""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "smolvlm",
    vision=("model.vision_model",),
    projector=("model.connector",),
    llm=("model.text_model",),
    video=True,
    notes="Template writes BOS (<|im_start|>) itself; roles 'User:'/'Assistant:', turns end '<end_of_utterance>\\n'; "
    "video frames are expanded with their timestamps.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "smolvlm2-256m-video-instruct": "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
    "smolvlm2-500m-video-instruct": "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
    "smolvlm2-2.2b-instruct": "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
}
