"""Phi-4-multimodal (transformers-native): SigLIP-style tower with HD crops, a two-layer MLP projector, Phi-4-mini LLM;
also an audio encoder (not used here: we train on images and text)."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import train_tokenizer

FAMILY = Family(
    "phi4_multimodal",
    ("phi4_multimodal",),
    # The tower's embeddings and encoder: its post-layernorm and pooling head run but feed nothing the model uses.
    vision=(
        "model.embed_tokens_extend.image_embed.img_processor.embeddings",
        "model.embed_tokens_extend.image_embed.img_processor.encoder",
    ),
    # The projector is the two linears of image_embed (the module itself also holds the tower, and PEFT cannot put
    # LoRA inside a module it saves whole); its two separator vectors go with the projector only in full runs.
    projector=(
        "model.embed_tokens_extend.image_embed.img_projection_up",
        "model.embed_tokens_extend.image_embed.img_projection_down",
    ),
    llm=("model.embed_tokens", "model.layers", "model.norm"),
    auto_class="AutoModelForMultimodalLM",
    notes=(
        "Phi-4-multimodal; image and text (the audio encoder stays frozen). Its template writes EOS once after the "
        "last turn; answers are supervised as answer + <|end|>."
    ),
)

MODELS = [
    ModelEntry("tiny-phi4-multimodal", "phi4_multimodal", "(built locally)", tiny=True),
    ModelEntry("phi-4-multimodal-instruct", "phi4_multimodal", "microsoft/Phi-4-multimodal-instruct"),
]

# Phi-4 turn format: <|role|>content<|end|> per turn, `<|image|>` / `<|audio|>` where media go, then `<|assistant|>` as
# the generation prompt, or EOS once at the end when there is none.
TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<|image|>' }}{% elif c['type'] == 'audio' %}{{ '<|audio|>' }}"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}{{ '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)


def tiny(out: Path) -> None:
    import transformers as tf

    special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    named = {"image_token": "<|image|>", "audio_token": "<|audio|>"}
    base = train_tokenizer(special, ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", *named.values()])
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, extra_special_tokens=named, **special)
    end = tok.convert_tokens_to_ids("<|end|>")
    image_id, audio_id = tok.convert_tokens_to_ids("<|image|>"), tok.convert_tokens_to_ids("<|audio|>")
    # The processor counts 256 + 16 global-crop tokens (a 16 x 16 pooled grid), so image_size / patch_size must be 32.
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=64,
        patch_size=2,
        crop_size=64,
        image_token_id=image_id,
        feature_layer=-1,  # the real -2 leaves the last layer idle; with 2 layers here, use both
    )
    audio = dict(
        hidden_size=32,
        intermediate_size=64,
        num_blocks=1,
        num_attention_heads=2,
        ext_pw_out_channel=32,
        depthwise_separable_out_channel=32,
        nemo_conv_channels=32,
        audio_token_id=audio_id,
    )
    cfg = tf.Phi4MultimodalConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        vision_config=vision,
        audio_config=audio,
    )
    proc = tf.Phi4MultimodalProcessor(
        image_processor=tf.Phi4MultimodalImageProcessor(size={"height": 64, "width": 64}, patch_size=2, dynamic_hd=1),
        audio_processor=tf.Phi4MultimodalFeatureExtractor(),
        tokenizer=tok,
    )
    proc.chat_template = TEMPLATE  # the constructor does not take it
    model = tf.AutoModelForMultimodalLM.from_config(cfg)
    model.generation_config.bos_token_id = tok.bos_token_id
    model.generation_config.eos_token_id = [end, tok.eos_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)
