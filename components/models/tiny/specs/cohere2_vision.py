from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.aya_vision import COHERE_CONFIG, COHERE_TOKENS, COHERE_TURNS, TILES

# Template: Command A, as Aya's turns but answers are <|START_RESPONSE|>answer<|END_RESPONSE|><|END_OF_TURN_TOKEN|>;
# content order kept, an image as one `<|IMG_PATCH|>` (the processor expands it into tiles).
TINY = TinySpec(
    "Cohere2VisionConfig",
    "Cohere2VisionProcessor",
    template="command_a",
    tokens=dict(
        COHERE_TOKENS,
        image_token="<|IMG_PATCH|>",
        boi_token="<|START_OF_IMG|>",
        eoi_token="<|END_OF_IMG|>",
        img_line_break_token="<|IMG_LINE_BREAK|>",
    ),
    specials=(*COHERE_TURNS, "<|START_RESPONSE|>", "<|END_RESPONSE|>"),
    add_bos=True,
    config=COHERE_CONFIG,
    # `patch_size` here is the number of tokens per tile side: (56 / 14) / downsample 2.
    parts=dict(image_processor=("Cohere2VisionImageProcessor", dict(TILES, patch_size=2))),
)
