from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CLIP_IMAGES, CLIP_VISION, LLAMA_TOKENS, LLAVA_PROCESSOR

# Template: `<system>###Human: <image>\ntext###Assistant: answer`; a system message as bare text, images of a turn
# before its text, no end-of-turn token.
TINY = TinySpec(
    "VipLlavaConfig",
    "LlavaProcessor",
    template="vipllava",
    tokens=LLAMA_TOKENS,
    add_bos=True,
    # real: layers [-2, -5, -8, -11, 6] of 24
    config=dict(vision_config=CLIP_VISION, vision_feature_layers=[-1, 1], image_seq_length=4),
    parts=CLIP_IMAGES,
    processor_kwargs=LLAVA_PROCESSOR,
)
