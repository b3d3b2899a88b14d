"""Mistral 3, and the Pixtral parts LightOnOCR shares (vision tower, image processor, processor settings)."""

from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import LLAMA_TOKENS

PIXTRAL_VISION = dict(image_size=56, patch_size=14)
PIXTRAL_IMAGES = ("PixtralImageProcessor", dict(size={"longest_edge": 56}, patch_size={"height": 14, "width": 14}))
PIXTRAL_PROCESSOR = dict(patch_size=14, spatial_merge_size=2)

# Template: Mistral-Small 3.1, <s>[SYSTEM_PROMPT]...[/SYSTEM_PROMPT][INST]text[IMG]...[/INST]answer</s>; content order
# kept, a default system prompt when none is given, no generation-prompt branch.
TINY = TinySpec(
    "Mistral3Config",
    "PixtralProcessor",
    template="mistral_small",
    tokens=dict(LLAMA_TOKENS, image_token="[IMG]"),
    specials=("[INST]", "[/INST]", "[IMG_BREAK]", "[IMG_END]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"),
    add_bos=True,
    config=dict(vision_config=PIXTRAL_VISION),
    parts=dict(image_processor=PIXTRAL_IMAGES),
    processor_kwargs=PIXTRAL_PROCESSOR,
)
