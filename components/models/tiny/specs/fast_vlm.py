from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.llava import CHATML_TOKENS

# fastvit_mci3 (FastViTHD) with one block per stage and narrow stages; the final conv doubles the last width.
FASTVIT = dict(
    hidden_size=64,
    do_pooling=False,
    model_args={"layers": [1, 1, 1, 1, 1], "embed_dims": [8, 16, 16, 32, 32]},
)
IMAGES = dict(
    size={"shortest_edge": 128}, crop_size={"height": 128, "width": 128}, image_mean=[0.0] * 3, image_std=[1.0] * 3
)

# Template: LLaVA-Qwen2 ChatML, a default system prompt, images of a turn (`<image>\n`) before its text, `<|im_end|>\n`
# after each turn.
TINY = TinySpec(
    "FastVlmConfig",
    "LlavaProcessor",
    template="chatml_llava",
    tokens=CHATML_TOKENS,
    specials=("<|im_start|>",),
    config=dict(vision_config=FASTVIT, image_seq_length=4),
    parts=dict(image_processor=("CLIPImageProcessor", IMAGES)),  # one token per 64x64 patch
    processor_kwargs=dict(patch_size=64, vision_feature_select_strategy="full", num_additional_image_tokens=0),
)
