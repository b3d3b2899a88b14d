"""Idefics2. Template: the Idefics3 format without the BOS (the tokenizer adds it) and without video."""

from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.idefics3 import EOU, VISION

TINY = TinySpec(
    "Idefics2Config",
    "Idefics2Processor",
    template="idefics2",
    # Mistral tokenizer; generation also stops on <end_of_utterance>
    tokens=dict(
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        image_token="<image>",
        image_boundary_token="<fake_token_around_image>",
    ),
    specials=(EOU,),
    add_bos=True,
    config=dict(
        vision_config=VISION,
        perceiver_config=dict(
            hidden_size=64,
            resampler_n_latents=4,
            resampler_depth=1,
            resampler_n_heads=2,
            resampler_head_dim=16,
            num_key_value_heads=1,
        ),
    ),
    parts=dict(
        image_processor=(
            "Idefics2ImageProcessor",
            dict(size={"shortest_edge": 56, "longest_edge": 56}, do_image_splitting=True),
        )
    ),
    processor_kwargs=dict(image_seq_len=4),  # = resampler_n_latents
    generation_eos=("</s>", EOU),
)
