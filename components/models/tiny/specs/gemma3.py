from components.models.tiny.spec import TinySpec

GEMMA_TOKENS = dict(bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
GEMMA_TEXT = dict(query_pre_attn_scalar=16, sliding_window=64, layer_types=["sliding_attention", "full_attention"])

TINY = TinySpec(
    "Gemma3Config",
    "Gemma3Processor",
    template="gemma3",
    tokens=dict(
        GEMMA_TOKENS, boi_token="<start_of_image>", eoi_token="<end_of_image>", image_token="<image_soft_token>"
    ),
    specials=("<start_of_turn>", "<end_of_turn>"),
    config=dict(
        text_config=GEMMA_TEXT,
        vision_config=dict(image_size=56, patch_size=14, vision_use_head=False),
        mm_tokens_per_image=4,  # 4x4 patches average-pooled to 2x2
    ),
    parts=dict(image_processor=("Gemma3ImageProcessor", dict(size={"height": 56, "width": 56}))),
    processor_kwargs=dict(image_seq_length=4),
    generation_eos=("<eos>", "<end_of_turn>"),
)
