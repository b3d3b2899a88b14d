"""Gemma 3n. Template: the Gemma 3 format (BOS from the template, system folded into the first user turn, assistant
-> "model", "<end_of_turn>\n"), with Gemma 3n's media placeholders."""

from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.gemma3 import GEMMA3_IMAGE, GEMMA_LAYERS, GEMMA_TOKENS, TURN

MEDIA_VOCAB = 4  # ids per multimodal embedder (the real ones have 128)
IMAGE_SIZE = 64  # MobileNetV5 downsamples 32x: a 2x2 grid, fused to 4 soft tokens per image
# As the real vocabulary: text ids, then the vision ids (eoi, image soft token, ...), then the audio ids.
VISION_IDS = ("<end_of_image>", "<image_soft_token>", *(f"<vision_{i}>" for i in range(2, MEDIA_VOCAB)))
AUDIO_IDS = ("<end_of_audio>", "<audio_soft_token>", *(f"<audio_{i}>" for i in range(2, MEDIA_VOCAB)))


def text_vocab(tok) -> int:
    return len(tok) - 2 * MEDIA_VOCAB


def open_altup(model) -> None:
    """AltUp's output scale initialises to zero, which silences the per-layer-input path of a fresh model; a trained
    checkpoint has it non-zero, so give the tiny one random values."""
    for layer in model.model.language_model.layers:
        layer.altup.correct_output_scale.normal_(0.0, 0.5)


TINY = TinySpec(
    "Gemma3nConfig",
    "Gemma3nProcessor",
    template="gemma3n",
    tokens=dict(
        GEMMA_TOKENS,
        **GEMMA3_IMAGE,
        boa_token="<start_of_audio>",
        eoa_token="<end_of_audio>",
        audio_token="<audio_soft_token>",
    ),
    specials=TURN,
    last_tokens=VISION_IDS + AUDIO_IDS,
    add_bos=True,
    config=dict(
        text_config=dict(
            GEMMA_LAYERS,
            vocab_size_per_layer_input=text_vocab,
            hidden_size_per_layer_input=16,
            intermediate_size=128,
            activation_sparsity_pattern=[0.0, 0.0],
            num_kv_shared_layers=0,
            laurel_rank=8,
            altup_num_inputs=2,
        ),
        vision_config=dict(
            model_args={"channel_multiplier": 0.0625, "msfa_output_resolution": 2},
            hidden_size=2048,  # fixed by the MobileNetV5 fusion adapter
            vocab_size=MEDIA_VOCAB,
            vocab_offset=text_vocab,
        ),
        audio_config=dict(
            hidden_size=32,
            conf_num_attention_heads=2,
            conf_num_hidden_layers=1,
            sscp_conv_channel_size=[8, 8],
            vocab_size=MEDIA_VOCAB,
            vocab_offset=lambda tok: text_vocab(tok) + MEDIA_VOCAB,
        ),
        vision_soft_tokens_per_image=4,
        audio_soft_tokens_per_image=4,
    ),
    parts=dict(
        feature_extractor=("Gemma3nAudioFeatureExtractor", {}),
        image_processor=(
            "SiglipImageProcessor",
            dict(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=[0.0] * 3, image_std=[1.0] * 3),
        ),
    ),
    processor_kwargs=dict(image_seq_length=4, audio_seq_length=4),
    generation_eos=("<eos>", "<end_of_turn>"),
    after_init=open_altup,
)
