from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.qwen2_vl import MEDIA

TINY = TinySpec(
    "Glm4vConfig",
    "Glm4vProcessor",
    # Modelled on the shipped template: `[gMASK]<sop>`, role tokens with no end-of-turn marker (a turn ends where the
    # next role token starts), media wrapped in begin/end markers. Video frames reuse `<|image|>` in the processor.
    template="glm41v",
    tokens=dict(
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        image_token="<|image|>",
        video_token="<|video|>",
        image_start_token="<|begin_of_image|>",
        image_end_token="<|end_of_image|>",
        video_start_token="<|begin_of_video|>",
        video_end_token="<|end_of_video|>",
    ),
    specials=("[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>", "<think>", "</think>"),
    config=dict(
        # head_dim 16 with partial_rotary_factor 0.5 (as the real config): rotary dim 8, mrope_section sums to 4.
        text_config=dict(
            rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1], "partial_rotary_factor": 0.5}
        ),
        vision_config=dict(out_hidden_size=64, image_size=56),
    ),
    parts=dict(image_processor=("Glm4vImageProcessor", MEDIA), video_processor=("Glm4vVideoProcessor", MEDIA)),
    # As the real generation config: stop at EOS or when the model starts the next user / observation turn.
    generation_eos=("<|endoftext|>", "<|user|>", "<|observation|>"),
)
