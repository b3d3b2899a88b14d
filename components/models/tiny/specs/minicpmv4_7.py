from dataclasses import replace

from components.models.tiny.specs.minicpmv4_6 import TINY as MINICPMV4_6

# MiniCPM-V 4.6's checkpoint with canvas M-RoPE, which reads the marker and row-newline ids from the config.
TINY = replace(
    MINICPMV4_6,
    config_class="MiniCPMV4_7Config",
    processor="MiniCPMV4_7Processor",
    token_ids=dict(
        image_start_id="<image>",
        image_end_id="</image>",
        slice_start_id="<slice>",
        slice_end_id="</slice>",
        newline_id="\n",
    ),
)
