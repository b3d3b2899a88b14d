from components.models.tiny.spec import TinySpec

IMAGE = dict(
    image_start_token="<｜hy_place▁holder▁no▁100｜>",
    image_end_token="<｜hy_place▁holder▁no▁101｜>",
    image_token="<｜hy_place▁holder▁no▁102｜>",
)

TINY = TinySpec(
    "HunYuanVLConfig",
    "HunYuanVLProcessor",
    # Modelled on the shipped template: BOS, the system text closed by a separator (`no▁3`), `<｜hy_User｜>` /
    # `<｜hy_Assistant｜>` turns, assistant turns closed by EOS, images wrapped in start/end tokens.
    template="hunyuan_vl",
    tokens=dict(
        IMAGE,
        bos_token="<｜hy_begin▁of▁sentence｜>",
        eos_token="<｜hy_place▁holder▁no▁2｜>",
        pad_token="<｜hy_▁pad▁｜>",
    ),
    specials=("<｜hy_place▁holder▁no▁3｜>", "<｜hy_User｜>", "<｜hy_Assistant｜>"),
    config=dict(
        # Axes (sequence, width, height, image index), each a quarter of the rotary half-dim, as the real config.
        text_config=dict(head_dim=16, rope_parameters={"rope_type": "default", "mrope_section": [2, 2, 2, 2]}),
        vision_config=dict(out_hidden_size=64, text_hidden_size=64, max_image_size=128, min_image_size=32),
    ),
    token_ids=dict(im_start_id=IMAGE["image_start_token"], im_end_id=IMAGE["image_end_token"]),
    parts=dict(
        image_processor=(
            "HunYuanVLImageProcessor",
            dict(size={"shortest_edge": 64 * 64, "longest_edge": 128 * 128}, patch_size=16, merge_size=2),
        )
    ),
)
