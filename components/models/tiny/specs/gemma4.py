"""Gemma 4. Template: the Gemma 4 format without thinking: BOS from the template, a system turn only when there is a
system message, assistant -> "model", media as bare <|image|> / <|video|> / <|audio|> in content order, turns end
"<turn|>\n"."""

from components.models.tiny.spec import TinySpec
from components.models.tiny.specs.gemma3 import GEMMA_LAYERS, GEMMA_TOKENS

PATCH, POOL = 4, 2  # up to 280 patches of 4 px per image, pooled 2x2 to at most 70 soft tokens
MEDIA = dict(patch_size=PATCH, pooling_kernel_size=POOL, max_soft_tokens=70)

TINY = TinySpec(
    "Gemma4Config",
    "Gemma4Processor",
    template="gemma4",
    tokens=dict(
        GEMMA_TOKENS,
        boi_token="<|image>",
        eoi_token="<image|>",
        image_token="<|image|>",
        video_token="<|video|>",
        boa_token="<|audio>",
        eoa_token="<audio|>",
        audio_token="<|audio|>",
    ),
    specials=("<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|think|>"),
    add_bos=True,
    config=dict(
        text_config=dict(
            GEMMA_LAYERS, vocab_size_per_layer_input=len, hidden_size_per_layer_input=16, global_head_dim=16
        ),
        vision_config=dict(  # None by default: the model_type starts it from that type's shrunk defaults
            model_type="gemma4_vision",
            patch_size=PATCH,
            pooling_kernel_size=POOL,
            position_embedding_size=64,
        ),
    ),
    parts=dict(
        feature_extractor=("Gemma4AudioFeatureExtractor", {}),
        image_processor=("Gemma4ImageProcessor", MEDIA),
        video_processor=("Gemma4VideoProcessor", dict(MEDIA, num_frames=4)),
    ),
    processor_kwargs=dict(image_seq_length=70),
    generation_eos=("<eos>", "<turn|>"),
)
