from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.qwen3_5 import LINEAR_ATTENTION

# The processor reads every marker as a named tokenizer attribute and expands the image / video token into
# <image>...</image> and <slice>...</slice> runs.
NAMED = dict(
    image_token="<|image_pad|>",
    video_token="<|video_pad|>",
    image_start_token="<image>",
    image_end_token="</image>",
    slice_start_token="<slice>",
    slice_end_token="</slice>",
    image_id_start_token="<image_id>",
    image_id_end_token="</image_id>",
)
SIZES = dict(scale_resolution=56, patch_size=14, max_slice_nums=2)

TINY = TinySpec(
    "MiniCPMV4_6Config",
    "MiniCPMV4_6Processor",
    template="minicpmv",  # ChatML (the Qwen3.5 LLM's turn format) with the processor's image / video token
    tokens=dict(NAMED, eos_token="<|im_end|>", pad_token="<|endoftext|>"),
    specials=("<|im_start|>",),
    config=dict(
        # Qwen3.5 LLM; M-RoPE sections sum to the rotary half-dim (head_dim 32 x partial_rotary_factor 0.25 / 2 = 4).
        text_config=dict(
            LINEAR_ATTENTION,
            num_attention_heads=2,
            num_key_value_heads=1,
            rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1]},
        ),
        # 56 px = 4 x 4 patches of 14 px; the tower's window merger and the downsampling MLP each merge 2 x 2 -> 1.
        vision_config=dict(image_size=56, patch_size=14),
        insert_layer_id=0,
        image_size=56,
    ),
    parts=dict(
        image_processor=("MiniCPMV4_6ImageProcessor", SIZES),
        video_processor=("MiniCPMV4_6VideoProcessor", dict(SIZES, max_num_frames=4)),
    ),
)
