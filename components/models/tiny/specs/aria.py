from components.models.tiny.spec import TinySpec

# The processor resizes every image to 980 px (its default `max_image_size`; only 490 and 980 exist) and looks the
# token count up by that size: with 70 px patches a 980 px image is 14 x 14 = 196 patches, which the projector turns
# into 4 queries (256 in the real model). The count appears in the config and the processor.
QUERIES = 4

TINY = TinySpec(
    "AriaConfig",
    "AriaProcessor",
    template="aria",
    tokens=dict(
        bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<pad>", unk_token="<unk>", image_token="<|img|>"
    ),
    specials=("<fim_prefix>", "<fim_suffix>"),
    config=dict(
        text_config=dict(moe_num_experts=4, moe_topk=2, moe_num_shared_experts=1),
        vision_config=dict(image_size=980, patch_size=70),
        projector_patch_to_query_dict={196: QUERIES},
    ),
    parts=dict(image_processor=("AriaImageProcessor", dict(min_image_size=56))),
    processor_kwargs=dict(size_conversion={980: QUERIES}),
)
