"""Gemma 3 (Gemma 3n and Gemma 4 import from here). Template: BOS from the template, the system message folded into the
first user turn, assistant -> "model", content order with <start_of_image> placeholders, turns end "<end_of_turn>\n"."""

from components.models.tiny.spec import TinySpec

GEMMA_TOKENS = dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
GEMMA3_IMAGE = dict(boi_token="<start_of_image>", eoi_token="<end_of_image>", image_token="<image_soft_token>")
TURN = ("<start_of_turn>", "<end_of_turn>")
GEMMA_LAYERS = dict(sliding_window=64, layer_types=["sliding_attention", "full_attention"])
GEMMA_TEXT = dict(GEMMA_LAYERS, query_pre_attn_scalar=16)

TINY = TinySpec(
    "Gemma3Config",
    "Gemma3Processor",
    template="gemma3",
    tokens=dict(GEMMA_TOKENS, **GEMMA3_IMAGE),
    specials=TURN,
    add_bos=True,  # as the real tokenizer; the template writes BOS too, and the collator then adds none
    config=dict(
        text_config=GEMMA_TEXT,
        vision_config=dict(image_size=56, patch_size=14, vision_use_head=False),
        mm_tokens_per_image=4,  # 4x4 patches average-pooled to 2x2
    ),
    parts=dict(image_processor=("Gemma3ImageProcessor", dict(size={"height": 56, "width": 56}))),
    processor_kwargs=dict(image_seq_length=4),
    generation_eos=("<eos>", "<end_of_turn>"),
)
