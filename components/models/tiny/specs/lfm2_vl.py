"""LFM2-VL. Template: the LFM2 format: BOS written by the template, ChatML turns, media placeholders in content
order."""

from components.models.tiny.spec import TinySpec

PATCH = 8
TILES = tuple(f"<|img_row_{r}_col_{c}|>" for r in range(1, 5) for c in range(1, 5))

TINY = TinySpec(
    "Lfm2VlConfig",
    "Lfm2VlProcessor",
    template="lfm2",
    tokens=dict(bos_token="<|startoftext|>", eos_token="<|im_end|>", pad_token="<|pad|>", image_token="<image>"),
    specials=("<|im_start|>", "<|image_start|>", "<|image_end|>", "<|img_thumbnail|>", *TILES),
    add_bos=True,
    config=dict(
        text_config=dict(block_auto_adjust_ff_dim=False, layer_types=["conv", "full_attention"], full_attn_idxs=None),
        vision_config=dict(
            patch_size=PATCH,
            num_patches=64,  # 8x8 position grid, interpolated to each image's patch grid
            vision_use_head=False,
        ),
        projector_hidden_size=64,
        downsample_factor=2,
    ),
    parts=dict(
        image_processor=(
            "Lfm2VlImageProcessor",
            dict(
                encoder_patch_size=PATCH,
                downsample_factor=2,
                tile_size=32,  # 4x4 patches -> 4 tokens per tile
                min_tiles=2,
                max_tiles=4,
                min_image_tokens=4,
                max_image_tokens=16,
                size={"height": 32, "width": 32},
            ),
        )
    ),
)
