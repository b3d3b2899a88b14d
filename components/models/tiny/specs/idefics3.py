"""Idefics3 (SmolVLM and Idefics2 import from here): 56 px tiles of 4x4 patches, pixel-shuffled 2x -> 4 tokens per tile.
Template: BOS from the template, 'Role:' with no space before a leading image, content in order,
'<end_of_utterance>\n' after every turn, generation prompt 'Assistant:'."""

from components.models.tiny.spec import TinySpec

EOU = "<end_of_utterance>"
VISION = dict(image_size=56, patch_size=14)
TILE = {"longest_edge": 56}
IMAGES = dict(size={"longest_edge": 112}, max_image_size=TILE)  # a global view plus 56 px tiles
TILE_TOKENS = (
    "<fake_token_around_image>",
    EOU,
    "<global-img>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
)
IDEFICS3_CONFIG = dict(vision_config=VISION, scale_factor=2)

TINY = TinySpec(
    "Idefics3Config",
    "Idefics3Processor",
    template="idefics3",
    # Llama 3 tokenizer; generation also stops on <end_of_utterance>
    tokens=dict(
        bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", pad_token="<|finetune_pad|>", image_token="<image>"
    ),
    specials=TILE_TOKENS,
    add_bos=True,
    config=IDEFICS3_CONFIG,
    parts=dict(image_processor=("Idefics3ImageProcessor", IMAGES)),
    processor_kwargs=dict(image_seq_len=4),
    generation_eos=("<|end_of_text|>", EOU),
)
