from components.models.tiny.spec import TinySpec

TINY = TinySpec(
    "LlavaConfig",
    "LlavaProcessor",
    template="llava_1_5",
    tokens=dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", image_token="<image>"),
    add_bos=True,
    config=dict(vision_config=dict(image_size=28, patch_size=14, projection_dim=32), vision_feature_layer=-1),
    parts=dict(image_processor=("CLIPImageProcessor", dict(size={"shortest_edge": 28}, crop_size=[28, 28]))),
    processor_kwargs=dict(patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1),
)
