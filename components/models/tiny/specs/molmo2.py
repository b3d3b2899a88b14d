"""Molmo 2. Template: all media first (`<|image|>`, or `Image N<|image|>` for several, then `<|video|>`), then ChatML
turns; the user's <|im_end|>\n closes the previous answer, so the last answer has no end marker; user and assistant
must alternate."""

from components.models.tiny.spec import TinySpec

# The media markers the config wires (image_patch_id takes tokens["image_patch"]), then the rest of Molmo 2's.
MARKERS = dict(
    image_start_token="<im_start>",
    image_end_token="<im_end>",
    image_patch="<im_patch>",
    low_res_image_start_token="<low_res_im_start>",
    frame_start_token="<frame_start>",
    frame_end_token="<frame_end>",
)
MEDIA = ("<im_start>", "<im_end>", "<im_patch>", "<im_col>", "<low_res_im_start>", "<im_low>", "<frame_start>")
MEDIA += ("<frame_end>", "<|image|>", "<|video|>")
# 56 px crops = 4 x 4 patches of 14 px; one patch of overlap margin on each side; 2 x 2 pooling per token.
CROPS = dict(size={"height": 56, "width": 56}, patch_size=14, pooling_size=[2, 2])

TINY = TinySpec(
    "Molmo2Config",
    "Molmo2Processor",
    template="molmo2",
    tokens=dict(bos_token="<|im_end|>", eos_token="<|im_end|>", pad_token="<|endoftext|>", **MARKERS),
    specials=("<|im_start|>", *MEDIA),
    config=dict(
        # None: derived from the layer count and the patch grid, as the real configs do
        text_config=dict(additional_vocab_size=0, rope_scaling_layers=None),
        vision_config=dict(image_size=[56, 56], patch_size=14, num_position_embeddings=None),
        adapter_config=dict(vision_feature_layer=[-1, 0], text_hidden_size=64),
    ),
    parts=dict(
        image_processor=("Molmo2ImageProcessor", dict(CROPS, max_crops=2, overlap_margins=[1, 1])),
        video_processor=("Molmo2VideoProcessor", CROPS),
    ),
)
