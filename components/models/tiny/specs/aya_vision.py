"""Aya Vision, and the Cohere parts Command A Vision shares (tokens, turn markers, SigLIP tiles, projector)."""

from components.models.tiny.spec import TinySpec

COHERE_TOKENS = dict(bos_token="<BOS_TOKEN>", eos_token="<|END_OF_TURN_TOKEN|>", pad_token="<PAD>")
COHERE_TURNS = ("<|START_OF_TURN_TOKEN|>", "<|SYSTEM_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>")
COHERE_CONFIG = dict(
    vision_config=dict(image_size=56, patch_size=14, vision_use_head=False),
    downsample_factor=2,
    alignment_intermediate_size=64,
)
TILES = dict(size={"height": 56, "width": 56}, crop_to_patches=True, min_patches=1, max_patches=2)

# Template: Cohere, <BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>...<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|>
# <|CHATBOT_TOKEN|>answer<|END_OF_TURN_TOKEN|>; content order kept, images as `<image>`.
TINY = TinySpec(
    "AyaVisionConfig",
    "AyaVisionProcessor",
    template="cohere",
    tokens=dict(COHERE_TOKENS, image_token="<|IMG_PATCH|>"),
    specials=(*COHERE_TURNS, "<image>", "<|START_OF_IMG|>", "<|END_OF_IMG|>", "<|IMG_LINE_BREAK|>"),
    add_bos=True,
    config=COHERE_CONFIG,
    parts=dict(image_processor=("GotOcr2ImageProcessor", TILES)),
    processor_kwargs=dict(patch_size=28, img_size=56, downsample_factor=1),
)
