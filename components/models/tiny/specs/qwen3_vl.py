from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.qwen2_vl import QWEN_VL_TOKENS

# Interleaved M-RoPE; mrope_section sums to half the rotary dim (head_dim 16 here, head_dim 32 x 0.25 in Qwen3.5).
ROPE = {"rope_type": "default", "mrope_interleaved": True, "rope_theta": 10000.0}
VISION = dict(out_hidden_size=64, num_position_embeddings=64)
MEDIA = dict(size={"shortest_edge": 64 * 64, "longest_edge": 128 * 128}, patch_size=16, merge_size=2)

TINY = TinySpec(
    "Qwen3VLConfig",
    "Qwen3VLProcessor",
    # ChatML modelled on the shipped templates: no default system prompt, media pads in content order, `<|im_end|>\n`
    # after every turn. Qwen3.5's real template also opens `<think>` in the generation prompt; this one never thinks.
    template="chatml_qwen3",
    tokens=QWEN_VL_TOKENS,
    specials=("<|im_start|>",),
    config=dict(
        text_config=dict(rope_parameters=dict(ROPE, mrope_section=[4, 2, 2])),
        vision_config=dict(VISION, deepstack_visual_indexes=[0]),
    ),
    parts=dict(
        image_processor=("Qwen2VLImageProcessor", MEDIA),
        video_processor=("Qwen3VLVideoProcessor", MEDIA),
    ),
)
