from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CHATML_TOKENS, PINPOINTS

SIZE = {"height": 28, "width": 28}

TINY = TinySpec(
    "LlavaOnevisionConfig",
    "LlavaOnevisionProcessor",
    template="onevision",
    tokens=dict(CHATML_TOKENS, video_token="<video>"),
    specials=("<|im_start|>",),
    config=dict(vision_config=dict(image_size=28, patch_size=14), image_grid_pinpoints=PINPOINTS),
    parts=dict(
        image_processor=("LlavaOnevisionImageProcessor", dict(size=SIZE, image_grid_pinpoints=PINPOINTS)),
        video_processor=("LlavaOnevisionVideoProcessor", dict(size=SIZE)),
    ),
    processor_kwargs=dict(num_image_tokens=4, vision_feature_select_strategy="full"),
)
