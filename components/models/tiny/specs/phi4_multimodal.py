"""Phi-4-multimodal. Template: the Phi-4 turn format: <|role|>content<|end|> per turn, `<|image|>` / `<|audio|>` where
media go, then `<|assistant|>` as the generation prompt, or EOS once at the end when there is none."""

from components.models.tiny.spec import TinySpec

TINY = TinySpec(
    "Phi4MultimodalConfig",
    "Phi4MultimodalProcessor",
    template="phi4_multimodal",
    tokens=dict(
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        image_token="<|image|>",
        audio_token="<|audio|>",
    ),
    specials=("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
    config=dict(  # the LLM's keys are the top-level ones, which are not shrunk
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        # The processor counts 256 + 16 global-crop tokens (a 16 x 16 pooled grid), so image_size / patch_size is 32.
        vision_config=dict(
            image_size=64,
            patch_size=2,
            crop_size=64,
            feature_layer=-1,  # the real -2 leaves the last layer idle; with 2 layers here, use both
        ),
        audio_config=dict(
            num_blocks=1, ext_pw_out_channel=32, depthwise_separable_out_channel=32, nemo_conv_channels=32
        ),
    ),
    parts=dict(
        image_processor=(
            "Phi4MultimodalImageProcessor",
            dict(size={"height": 64, "width": 64}, patch_size=2, dynamic_hd=1),
        ),
        audio_processor=("Phi4MultimodalFeatureExtractor", {}),
    ),
    generation_eos=("<|end|>", "<|endoftext|>"),
)
