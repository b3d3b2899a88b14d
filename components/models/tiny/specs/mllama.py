"""Llama 3.2 Vision. Template: the Llama 3 header format, as the Llama 3.2 Vision Instruct template writes it: BOS once,
a header per turn, <|eot_id|> after every turn, `<|image|>` where the image goes."""

from components.models.tiny.spec import TinySpec

STOP = ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")


def open_gates(model) -> None:
    """Fresh mllama initialises its tanh gates (cross-attention, tile/position embeddings) to zero, which cuts the image
    path off the loss; a trained checkpoint has them open, so open them here as well."""
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[-1] in ("gate", "cross_attn_attn_gate", "cross_attn_mlp_gate"):
            p.fill_(0.5)


TINY = TinySpec(
    "MllamaConfig",
    "MllamaProcessor",
    template="llama3_vision",
    tokens=dict(
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
        image_token="<|image|>",
    ),
    specials=("<|end_of_text|>", "<|eom_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>"),
    add_bos=True,
    config=dict(
        text_config=dict(
            num_hidden_layers=3, cross_attention_layers=[1], eos_token_id=lambda tok: tok.convert_tokens_to_ids(STOP)
        ),
        vision_config=dict(
            num_global_layers=1,
            attention_heads=2,
            image_size=28,
            patch_size=14,
            max_num_tiles=4,
            intermediate_layers_indices=[0],
            vision_output_dim=64,  # hidden_size * (1 + len(intermediate_layers_indices))
        ),
    ),
    parts=dict(image_processor=("MllamaImageProcessor", dict(size={"height": 28, "width": 28}, max_image_tiles=4))),
    generation_eos=STOP,
    after_init=open_gates,
)
