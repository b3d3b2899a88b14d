from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CLIP_SIZE, LLAVA_PROCESSOR, VIDEO_TOKENS
from components.models.tiny.specs.llava_next import ANYRES, ANYRES_IMAGES

# Template: the 7B Vicuna, `USER: <image>\n<video>\ntext ASSISTANT: answer `; a system message as bare text, media of a
# turn before its text, no end-of-turn token.
TINY = TinySpec(
    "LlavaNextVideoConfig",
    "LlavaNextVideoProcessor",
    template="vicuna_video",
    tokens=VIDEO_TOKENS,
    add_bos=True,
    config=dict(ANYRES, spatial_pool_stride=2, image_seq_length=4, video_seq_length=1),
    parts=dict(image_processor=ANYRES_IMAGES, video_processor=("LlavaNextVideoVideoProcessor", CLIP_SIZE)),
    processor_kwargs=LLAVA_PROCESSOR,
)
