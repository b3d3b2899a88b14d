from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CHATML_TOKENS
from components.models.tiny.specs.mistral3 import PIXTRAL_IMAGES, PIXTRAL_PROCESSOR, PIXTRAL_VISION

# Template: ChatML (Qwen3 tokenizer), the image as `<|image_pad|>` in content order.
TINY = TinySpec(
    "LightOnOcrConfig",
    "LightOnOcrProcessor",
    template="chatml_image_pad",
    tokens=dict(
        CHATML_TOKENS,
        image_token="<|image_pad|>",
        image_break_token="<|vision_pad|>",
        image_end_token="<|vision_end|>",
    ),
    specials=("<|im_start|>",),
    config=dict(vision_config=PIXTRAL_VISION),
    parts=dict(image_processor=PIXTRAL_IMAGES),
    processor_kwargs=PIXTRAL_PROCESSOR,
)
