from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CLIP_SIZE, LLAVA_CONFIG, LLAVA_PROCESSOR, VIDEO_TOKENS

TINY = TinySpec(
    "VideoLlavaConfig",
    "VideoLlavaProcessor",
    template="vicuna_video",  # LLaVA-NeXT-Video 7B's Vicuna format
    tokens=VIDEO_TOKENS,
    add_bos=True,
    config=dict(LLAVA_CONFIG, image_seq_length=4, video_seq_length=4 * 5),
    parts=dict(
        image_processor=("VideoLlavaImageProcessor", CLIP_SIZE),
        video_processor=("VideoLlavaVideoProcessor", CLIP_SIZE),
    ),
    processor_kwargs=LLAVA_PROCESSOR,
)
