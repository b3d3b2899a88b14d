from components.models.tiny.spec import TinySpec

QWEN_VL_TOKENS = dict(
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    image_token="<|image_pad|>",
    video_token="<|video_pad|>",
    vision_start_token="<|vision_start|>",
    vision_end_token="<|vision_end|>",
)
MEDIA = dict(size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112}, patch_size=14, merge_size=2)
MROPE = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}

TINY = TinySpec(
    "Qwen2VLConfig",
    "Qwen2VLProcessor",
    template="chatml_qwen_vl",
    tokens=QWEN_VL_TOKENS,
    specials=("<|im_start|>",),
    config=dict(
        text_config=dict(rope_parameters=MROPE),
        vision_config=dict(embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14),
    ),
    parts=dict(
        image_processor=("Qwen2VLImageProcessor", MEDIA),
        video_processor=("Qwen2VLVideoProcessor", MEDIA),
    ),
)
