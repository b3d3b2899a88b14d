"""GLM-4.1V: GLM-4 LLM with 3D-RoPE, a ViT with 2D-RoPE and a conv downsample + MLP merger; images, several
images and video (frames carry their timestamp)."""

from __future__ import annotations

from pathlib import Path

from components.models.family import Family, ModelEntry
from components.models.tiny.parts import ids_of, train_tokenizer

# Video frames reuse `<|image|>`; the model tells them apart only through mm_token_type_ids, which the placeholder
# mask ignores (upstream, shared by GLM-4.1V / 4.5V / 4.6V in transformers 5.24).
# transformers 5.24 GLM-4.1V/4.5V/4.6V get_placeholder_mask counts video-frame tokens (reusing `<|image|>`) as image
# tokens, so a batch holding both images and a video fails ("Image features and image tokens do not match"); batches
# with only images or only videos work. The families declare mixed_media_batches=False, so the trainer forms every
# batch from one media kind.

FAMILY = Family(
    "glm4v",
    ("glm4v",),
    vision=("model.visual",),
    projector=("model.visual.downsample", "model.visual.merger"),
    llm=("model.language_model",),
    video=True,
    mixed_media_batches=False,  # see glm4v.py: image and video rows never share a batch
    notes="The real template ends an assistant turn at the next role token (`<|user|>`, supervised as the stop); "
    "the last turn gets EOS.",
)

MODELS = [
    ModelEntry("tiny-glm4.1v", "glm4v", "(built locally)", tiny=True),
    ModelEntry("glm-4.1v-9b-thinking", "glm4v", "zai-org/GLM-4.1V-9B-Thinking"),
]

# GLM-4.1V's format (written here, modelled on the shipped template): `[gMASK]<sop>`, role tokens with no
# end-of-turn marker (a turn ends where the next role token starts), media wrapped in begin/end markers.
_GLM_HEAD = (
    "[gMASK]<sop>{% for m in messages %}"
    "{% if m['content'] is string %}{% set text = m['content'] %}{% else %}{% set text = namespace(v='') %}"
    "{% for c in m['content'] %}"
    "{% if c['type'] == 'image' or 'image' in c %}"
    "{% set text.v = text.v + '<|begin_of_image|><|image|><|end_of_image|>' %}"
    "{% elif c['type'] == 'video' or 'video' in c %}"
    "{% set text.v = text.v + '<|begin_of_video|><|video|><|end_of_video|>' %}"
    "{% elif 'text' in c %}{% set text.v = text.v + c['text'] %}{% endif %}{% endfor %}"
    "{% set text = text.v %}{% endif %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>\n{THINK}{{ text }}"
    "{% else %}<|{{ m['role'] }}|>\n{{ text }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{THINK}{% endif %}"
)
GLM41V = _GLM_HEAD.replace("{THINK}", "")
# GLM-4.5V / 4.6V: thinking models; with thinking off every assistant turn opens with an empty `<think></think>`.
GLM45V = _GLM_HEAD.replace("{THINK}", "<think></think>\n")

_MOE = dict(
    n_routed_experts=4,
    num_experts_per_tok=2,
    n_shared_experts=1,
    moe_intermediate_size=32,
    first_k_dense_replace=1,
    n_group=1,
    topk_group=1,
)
_VARIANTS = {  # model_type: (config class, processor class, template, text-config overrides)
    "glm4v": ("Glm4vConfig", "Glm4vProcessor", GLM41V, {}),
    "glm46v": ("Glm46VConfig", "Glm46VProcessor", GLM45V, {}),
    "glm4v_moe": ("Glm4vMoeConfig", "Glm4vProcessor", GLM45V, _MOE),
}


def build_glm(out: Path, model_type: str) -> None:
    import transformers as tf

    cfg_name, proc_name, template, text_extra = _VARIANTS[model_type]
    special = {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    roles = ["<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]
    media = ["<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>", "<|image|>"]
    tok = train_tokenizer(special, ["[gMASK]", "<sop>", *roles, *media, "<|video|>", "<think>", "</think>"])
    ids = ids_of(
        tok,
        image_token_id="<|image|>",
        video_token_id="<|video|>",
        image_start_token_id="<|begin_of_image|>",
        image_end_token_id="<|end_of_image|>",
        video_start_token_id="<|begin_of_video|>",
        video_end_token_id="<|end_of_video|>",
    )
    # head_dim 16 with partial_rotary_factor 0.5 (as the real config): rotary dim 8, mrope_section sums to 4.
    text = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(tok),
        rope_parameters={
            "rope_type": "default",
            "mrope_section": [2, 1, 1],
            "partial_rotary_factor": 0.5,
            "rope_theta": 10000.0,
        },
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **text_extra,
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        patch_size=14,
        image_size=56,
    )
    cfg = getattr(tf, cfg_name)(text_config=text, vision_config=vision, **ids)
    cfg.eos_token_id, cfg.pad_token_id = tok.eos_token_id, tok.pad_token_id
    size = {"shortest_edge": 56 * 56, "longest_edge": 112 * 112}
    kw = dict(size=size, patch_size=14, merge_size=2, temporal_patch_size=2)
    proc = getattr(tf, proc_name)(
        image_processor=tf.Glm4vImageProcessor(**kw),
        video_processor=tf.Glm4vVideoProcessor(**kw),
        tokenizer=tok,
        chat_template=template,
    )
    model = tf.AutoModelForImageTextToText.from_config(cfg)
    # As the real generation config: stop at EOS or when the model starts the next user / observation turn.
    model.generation_config.eos_token_id = [
        tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|user|>", "<|observation|>")
    ]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    proc.save_pretrained(out)


def tiny(out: Path) -> None:
    build_glm(out, "glm4v")
