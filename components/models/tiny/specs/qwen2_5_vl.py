from dataclasses import replace

from components.models.tiny.specs.qwen2_vl import TINY as QWEN2_VL

# Qwen2-VL's tiny checkpoint with the window-attention tower: one full-attention block of two, 56 px windows.
TINY = replace(
    QWEN2_VL,
    config_class="Qwen2_5_VLConfig",
    processor="Qwen2_5_VLProcessor",
    config=dict(
        QWEN2_VL.config,
        vision_config=dict(out_hidden_size=64, patch_size=14, fullatt_block_indexes=[1], window_size=56),
    ),
)
