"""Mistral 3 (Mistral-Small-3.1/3.2): Pixtral vision encoder (2D RoPE, native aspect ratio), patch-merging projector."""

from __future__ import annotations

from components.models.family import Family

FAMILY = Family(
    "mistral3",
    notes="Mistral-Small 3.x; images keep their aspect ratio ([IMG] rows end in [IMG_BREAK], the image in [IMG_END]); "
    "the template writes BOS and a default system prompt.",
)

MODELS = {  # model id -> hub path (the tiny checkpoint is `tiny-<family>`)
    "mistral-small-3.1-24b-instruct": "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
    "mistral-small-3.2-24b-instruct": "mistralai/Mistral-Small-3.2-24B-Instruct-2506",
}
