from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.ernie4_5_vl_moe import ERNIE_SPECIALS, ERNIE_TOKENS, IMAGE, ROPE
from components.models.tiny.specs.qwen2_vl import MEDIA

TINY = TinySpec(
    "PaddleOCRVLConfig",
    "PaddleOCRVLProcessor",
    # Modelled on the shipped template: "User: " with the turn's images first, "Assistant:\n" turns closed by `</s>`.
    template="paddleocr_vl",
    tokens=dict(
        ERNIE_TOKENS,
        image_token=IMAGE["image_token"],
        vision_start_token=IMAGE["image_start_token"],
        vision_end_token=IMAGE["image_end_token"],
    ),
    specials=ERNIE_SPECIALS,
    config=dict(
        text_config=dict(rope_parameters=dict(ROPE, mrope_section=[2, 3, 3])),
        vision_config=dict(image_size=56),
    ),
    parts=dict(image_processor=("PaddleOCRVLImageProcessor", MEDIA)),
)
