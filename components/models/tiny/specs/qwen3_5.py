from dataclasses import replace

from components.models.tiny.specs.qwen3_vl import ROPE, VISION
from components.models.tiny.specs.qwen3_vl import TINY as QWEN3_VL

# Qwen3.5's LLM: one gated-DeltaNet linear-attention layer, one full-attention layer.
LINEAR_ATTENTION = dict(
    head_dim=32,
    layer_types=["linear_attention", "full_attention"],
    linear_key_head_dim=16,
    linear_value_head_dim=16,
    linear_num_key_heads=2,
    linear_num_value_heads=4,
)

TINY = replace(
    QWEN3_VL,
    config_class="Qwen3_5Config",
    config=dict(
        text_config=dict(LINEAR_ATTENTION, rope_parameters=dict(ROPE, mrope_section=[2, 1, 1])),
        vision_config=VISION,  # no DeepStack
    ),
)
