from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CHATML_TOKENS

SIZE = {"height": 28, "width": 28}

# Template: ChatML without a default system prompt; an image is `<IMG_CONTEXT>\n` and a video `<video>\n`, in content
# order (the processor expands each into <img> + N x <IMG_CONTEXT> + </img>, per tile or per frame).
TINY = TinySpec(
    "InternVLConfig",
    "InternVLProcessor",
    template="internvl",
    tokens=dict(
        CHATML_TOKENS,
        image_token="<IMG_CONTEXT>",  # wires image_token_id; the processor reads context_image_token
        start_image_token="<img>",
        end_image_token="</img>",
        context_image_token="<IMG_CONTEXT>",
        video_token="<video>",
    ),
    specials=("<|im_start|>",),
    # (28 / 14)^2 patches, pixel-shuffled by downsample_ratio 0.5 -> 1 token per tile
    config=dict(vision_config=dict(image_size=[28, 28], patch_size=[14, 14]), image_seq_length=1),
    parts=dict(
        image_processor=("GotOcr2ImageProcessor", dict(size=SIZE, crop_to_patches=True, min_patches=1, max_patches=4)),
        video_processor=("InternVLVideoProcessor", dict(size=SIZE)),
    ),
    processor_kwargs=dict(image_seq_length=1),
)
