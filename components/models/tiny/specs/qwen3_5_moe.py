from dataclasses import replace

from components.models.tiny.specs.qwen3_5 import TINY as QWEN3_5

TINY = replace(QWEN3_5, config_class="Qwen3_5MoeConfig")  # the shrunk defaults make it 4 experts, top-2
