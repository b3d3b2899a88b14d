"""SmolVLM2: the Idefics3 architecture and template (its BOS is <|im_start|>), with video."""

from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.idefics3 import EOU, IDEFICS3_CONFIG, IMAGES, TILE, TILE_TOKENS

TINY = TinySpec(
    "SmolVLMConfig",
    "SmolVLMProcessor",
    template="idefics3",
    # SmolVLM2: <|im_start|> is BOS, <end_of_utterance> EOS
    tokens=dict(
        bos_token="<|im_start|>", eos_token=EOU, pad_token="<|im_end|>", image_token="<image>", video_token="<video>"
    ),
    specials=TILE_TOKENS,
    add_bos=True,
    config=IDEFICS3_CONFIG,
    parts=dict(
        image_processor=("SmolVLMImageProcessor", IMAGES),
        video_processor=("SmolVLMVideoProcessor", dict(size=TILE, max_image_size=TILE, num_frames=4, fps=1)),
    ),
    processor_kwargs=dict(image_seq_len=4),
)
