from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.qwen2_vl import MEDIA

# ERNIE-4.5 tokenizers (ERNIE-4.5-VL, PaddleOCR-VL): `<unk>` pads, the template writes `<|begin_of_sentence|>`.
ERNIE_TOKENS = dict(bos_token="<s>", eos_token="</s>", pad_token="<unk>", unk_token="<unk>")
ERNIE_SPECIALS = ("<|begin_of_sentence|>", "<|end_of_sentence|>")
IMAGE = dict(image_token="<|IMAGE_PLACEHOLDER|>", image_start_token="<|IMAGE_START|>", image_end_token="<|IMAGE_END|>")
ROPE = {"rope_type": "default", "rope_theta": 10000.0}

TINY = TinySpec(
    "Ernie4_5_VLMoeConfig",
    "Ernie4_5_VLMoeProcessor",
    # Modelled on the shipped template: "User: " turns, numbered media wrapped in start/end markers, "\nAssistant: "
    # turns closed by `<|end_of_sentence|>`; no thinking.
    template="ernie_vl",
    tokens=dict(
        ERNIE_TOKENS,
        **IMAGE,
        video_token="<|VIDEO_PLACEHOLDER|>",
        video_start_token="<|VIDEO_START|>",
        video_end_token="<|VIDEO_END|>",
    ),
    specials=(*ERNIE_SPECIALS, "<think>", "</think>"),
    config=dict(
        text_config=dict(
            rope_parameters=dict(ROPE, mrope_section=[3, 3, 2]),
            moe_intermediate_size=[32, 16],  # text experts, vision experts
            moe_num_experts=4,
            moe_k=2,
            moe_num_shared_experts=1,
            mlp_layer_types=["dense", "sparse"],
        ),
    ),
    parts=dict(
        image_processor=("Ernie4_5_VLMoeImageProcessor", MEDIA),
        # No font offline: timestamps are not drawn on the frames of the tiny checkpoint.
        video_processor=("Ernie4_5_VLMoeVideoProcessor", dict(size=MEDIA["size"], draw_on_frames=False)),
    ),
    generation_eos=("</s>", "<|end_of_sentence|>"),
)
