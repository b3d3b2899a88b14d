from components.models.tiny.spec import TinySpec

MEDIA = dict(size={"max_height": 56, "max_width": 56}, patch_size=14, merge_size=2)

TINY = TinySpec(
    "Kimi_K25Config",
    "Kimi_K25Processor",
    # Kimi turns: <|im_{role}|> + role name + <|im_middle|> + content + <|im_end|>, a default system prompt when none is
    # given, media as <|media_begin|>kind<|media_content|>placeholder<|media_end|>.
    template="kimi_k25",
    tokens=dict(
        bos_token="[BOS]",
        eos_token="<|im_end|>",
        pad_token="[PAD]",
        image_token="<|media_pad|>",
        video_token="<|kimi_k25_video_placeholder|>",
        vision_start_token="<|media_begin|>",
        vision_end_token="<|media_end|>",
    ),
    specials=("<|im_system|>", "<|im_user|>", "<|im_assistant|>", "<|im_middle|>", "<|media_content|>"),
    config=dict(
        text_config=dict(  # DeepSeek-V3: MLA attention, a dense first layer, then MoE
            num_key_value_heads=4,
            first_k_dense_replace=1,
            n_group=1,
            topk_group=1,
            kv_lora_rank=16,
            q_lora_rank=32,
            qk_rope_head_dim=8,
            qk_nope_head_dim=8,
            v_head_dim=16,
            qk_head_dim=16,  # derived (nope + rope) and head_dim (rope) are stored, so restated for the small dims
            head_dim=8,
        ),
        vision_config=dict(pos_emb_height=8, pos_emb_width=8),
        projection_hidden_size=32,
    ),
    parts=dict(
        image_processor=("Kimi_K25ImageProcessor", MEDIA),
        video_processor=("Kimi_K25VideoProcessor", MEDIA),
    ),
)
