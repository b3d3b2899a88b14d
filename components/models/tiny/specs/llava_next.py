from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CLIP_SIZE, LLAMA_TOKENS, LLAVA_CONFIG, LLAVA_PROCESSOR, PINPOINTS

ANYRES = dict(LLAVA_CONFIG, image_grid_pinpoints=PINPOINTS)
ANYRES_IMAGES = ("LlavaNextImageProcessor", dict(CLIP_SIZE, image_grid_pinpoints=PINPOINTS))

# Template: LLaVA-NeXT Mistral, `[INST] <image>\ntext [/INST] answer</s>`; images of a turn before its text, a system
# message as a <<SYS>> block, no generation-prompt branch (the prompt ends at ` [/INST]`).
TINY = TinySpec(
    "LlavaNextConfig",
    "LlavaNextProcessor",
    template="llava_next_mistral",
    tokens=LLAMA_TOKENS,
    add_bos=True,
    config=dict(ANYRES, text_config=dict(model_type="mistral")),
    parts=dict(image_processor=ANYRES_IMAGES),
    processor_kwargs=LLAVA_PROCESSOR,
)
