"""Llama 4. Template: the Llama 4 header format: BOS once, `<|header_start|>role<|header_end|>\n\n` per turn, `<|eot|>`
after every turn, `<|image|>` where an image goes (the processor expands it into tiles of <|patch|> tokens)."""

from components.models.tiny.spec import TinySpec

STOP = ("<|end_of_text|>", "<|eot|>", "<|eom|>")
MEDIA = ("<|image_start|>", "<|image_end|>", "<|image|>", "<|patch|>", "<|tile_x_separator|>", "<|tile_y_separator|>")

TINY = TinySpec(
    "Llama4Config",
    "Llama4Processor",
    template="llama4",
    tokens=dict(
        bos_token="<|begin_of_text|>",
        eos_token="<|eot|>",
        pad_token="<|finetune_right_pad|>",
        boi_token="<|image_start|>",
        eoi_token="<|image_end|>",
    ),
    specials=("<|end_of_text|>", "<|eom|>", "<|header_start|>", "<|header_end|>", *MEDIA),
    add_bos=True,
    config=dict(
        text_config=dict(
            intermediate_size_mlp=128,
            num_local_experts=2,
            num_experts_per_tok=1,
            attention_chunk_size=128,
            moe_layers=None,  # None: derived from the layer count, as the real configs do
            no_rope_layers=None,
            eos_token_id=lambda tok: tok.convert_tokens_to_ids(STOP),
        ),
        # 28 / 14 = 2 x 2 patches per tile, pixel-shuffled (ratio 0.5) into 1 token; the shuffle quadruples channels.
        vision_config=dict(
            intermediate_size=128,
            image_size=28,
            patch_size=14,
            vision_output_dim=64,
            projector_input_dim=64,
            projector_output_dim=64,
        ),
        # The model's image token is the patch token (the processor's `image_token` is <|image|>, which it expands).
        image_token_index=lambda tok: tok.convert_tokens_to_ids("<|patch|>"),
    ),
    parts=dict(image_processor=("Llama4ImageProcessor", dict(size={"height": 28, "width": 28}, max_patches=4))),
    processor_kwargs=dict(patch_size=14),
    generation_eos=STOP,
)
