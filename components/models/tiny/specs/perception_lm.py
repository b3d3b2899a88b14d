from components.models.tiny.spec import TinySpec

LLAMA3_TOKENS = dict(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", pad_token="<|end_of_text|>")
SIZE = {"height": 28, "width": 28}
# A 28 px tile is 2 x 2 patches of 14 px plus a CLS token; the projector pools 2 x 2 patches into 1 token. As PLM's own
# tower: no attention-pool head, no post-transformer norm (patch features go to the projector).
PE_CORE = dict(
    architecture="vit_pe_core_large_patch14_336",
    model_args=dict(
        embed_dim=32,
        depth=2,
        num_heads=2,
        img_size=[28, 28],
        ref_feat_shape=[2, 2],
        global_pool="",
        use_post_transformer_norm=False,
    ),
    do_pooling=False,
)

# Template: Llama 3 headers as PLM writes them: BOS once, a header per turn, images then videos then text, <|eot_id|>
# after every turn.
TINY = TinySpec(
    "PerceptionLMConfig",
    "PerceptionLMProcessor",
    template="perception_lm",
    tokens=dict(LLAMA3_TOKENS, image_token="<|image|>", video_token="<|video|>"),
    specials=("<|eom_id|>", "<|start_header_id|>", "<|end_header_id|>"),
    add_bos=True,
    config=dict(vision_config=PE_CORE, projector_pooling_ratio=2),
    parts=dict(
        image_processor=("PerceptionLMImageProcessor", dict(tile_size=28, max_num_tiles=4, size=SIZE)),
        video_processor=("PerceptionLMVideoProcessor", dict(size=SIZE)),
    ),
    processor_kwargs=dict(patch_size=14, pooling_ratio=2),
    generation_eos=("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"),
)
