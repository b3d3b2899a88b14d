from dataclasses import replace

from components.models.tiny.specs.qwen3_vl import TINY as QWEN3_VL

TINY = replace(QWEN3_VL, config_class="Qwen3VLMoeConfig")  # the shrunk defaults make it 4 experts, top-2
