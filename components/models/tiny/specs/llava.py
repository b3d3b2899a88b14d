"""LLaVA-1.5, and the LLaVA-style parts its descendants share (CLIP tower, Llama tokens, the LLaVA processor)."""

from components.models.tiny.spec import TinySpec

LLAMA_TOKENS = dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", image_token="<image>")
VIDEO_TOKENS = dict(LLAMA_TOKENS, video_token="<video>")
CHATML_TOKENS = dict(eos_token="<|im_end|>", pad_token="<|endoftext|>", image_token="<image>")
CLIP_VISION = dict(image_size=28, patch_size=14, projection_dim=32)
LLAVA_CONFIG = dict(vision_config=CLIP_VISION, vision_feature_layer=-1)  # real: -2; -1 so LoRA on the last layer learns
CLIP_SIZE = dict(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
CLIP_IMAGES = dict(image_processor=("CLIPImageProcessor", CLIP_SIZE))
LLAVA_PROCESSOR = dict(patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1)
PINPOINTS = [[28, 28], [28, 56], [56, 28]]  # anyres tiles (LLaVA-NeXT, OneVision)

TINY = TinySpec(
    "LlavaConfig",
    "LlavaProcessor",
    template="llava_1_5",
    tokens=LLAMA_TOKENS,
    add_bos=True,
    config=LLAVA_CONFIG,
    parts=CLIP_IMAGES,
    processor_kwargs=LLAVA_PROCESSOR,
)
