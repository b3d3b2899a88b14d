"""Exact assistant-only labels from VLMCollator, on every tiny family and on real checkpoints' chat templates.

"Exact": the supervised tokens of each assistant turn form one contiguous run right after the generation prompt, decode
to the answer plus the end-of-turn marker (LLaVA-1.5: plus the EOS the collator inserts), and everything else is -100.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import GenerationConfig

from components.artifacts import Sample
from components.data.batching import pad_cat, pad_id
from components.data.collator import (
    IGNORE_INDEX,
    AllLabelsMasked,
    TemplateError,
    VLMCollator,
    adds_special_tokens,
    render,
    render_sequences,
    stop_tokens,
)
from components.data.rows import to_messages
from components.matrix import supervised_runs as runs

FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava", "llava_onevision"]
VIDEO_FAMILIES = ["qwen2_vl", "qwen2_5_vl", "llava_onevision"]
CHATML = {"qwen2_vl", "qwen2_5_vl", "llava_onevision"}
END = {"qwen2_vl": "<|im_end|>", "qwen2_5_vl": "<|im_end|>", "llava": "</s>", "llava_onevision": "<|im_end|>"}
GEN_PROMPT = {f: "<|im_start|>assistant\n" for f in CHATML} | {"llava": "ASSISTANT:"}
MAX_LENGTH = 4096  # far above every row here: batches must still be padded only to their longest row

TEMPLATES = Path(__file__).resolve().parents[1].parent / "shared" / "chat_templates"

COLOURS = [(220, 30, 30), (30, 30, 220), (30, 200, 30)]
SIZES = [(40, 30), (90, 60), (28, 56)]

CASES = {
    "single": dict(turns=[("user", "<image>\nWhat colour is the square?"), ("assistant", "red")], images=1),
    "multi_turn": dict(
        turns=[
            ("user", "<image>\nWhat colour is the square?"),
            ("assistant", "red"),
            ("user", "And its shape?"),
            ("assistant", "a square"),
            ("user", "How many are there?"),
            ("assistant", "one"),
        ],
        images=1,
    ),
    "multi_image": dict(
        turns=[
            ("user", "<image>\n<image>\nWhich image is red?"),
            ("assistant", "the first one"),
            ("user", "<image>\nAnd this one?"),
            ("assistant", "green"),
        ],
        images=3,
    ),
    "video": dict(turns=[("user", "<video>\nWhere does the square move?"), ("assistant", "to the left")], videos=1),
    "text_only": dict(turns=[("user", "What is two plus two?"), ("assistant", "four")]),
    "system": dict(
        system="Answer with one word.", turns=[("user", "<image>\nWhat colour?"), ("assistant", "red")], images=1
    ),
    "answer_in_user": dict(turns=[("user", "Answer red"), ("assistant", "red")]),
}
IMAGE_CASES = ["single", "multi_turn", "multi_image", "text_only", "system", "answer_in_user"]


def make_row(turns, images: int = 0, videos: int = 0, system: str | None = None) -> dict:
    files = [f"{k}.png" for k in range(images)], [f"{k}.mp4" for k in range(videos)]
    sample = Sample(0, None, system, list(turns), *files)
    return {
        "messages": to_messages(sample),
        "images": [Image.new("RGB", SIZES[k % 3], COLOURS[k % 3]) for k in range(images)],
        "videos": [np.full((4, 28, 28, 3), 60 * (k + 1), np.uint8) for k in range(videos)],
    }


def answers(row: dict) -> list[str]:
    content = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
    return [c if isinstance(c, str) else c[-1]["text"] for c in content]


def expected_span(family: str, answer: str) -> str:
    return (" " if family == "llava" else "") + answer + END[family]


def check_labels(processor, family: str, batch: dict, rows: list[dict]) -> None:
    tok = processor.tokenizer
    ids, labels, attn = batch["input_ids"], batch["labels"], batch["attention_mask"]
    lengths = attn.sum(dim=1).tolist()
    assert ids.shape == labels.shape == attn.shape
    assert ids.shape[1] == max(lengths) < MAX_LENGTH  # dynamic padding: to the longest row, never to max_length
    for b, row in enumerate(rows):
        n = lengths[b]
        assert attn[b, :n].all() and not attn[b, n:].any()  # right padding
        assert (ids[b, n:] == tok.pad_token_id).all()
        sup = labels[b] != IGNORE_INDEX
        assert torch.equal(labels[b], torch.where(sup, ids[b], IGNORE_INDEX))
        spans = runs(sup)
        assert [tok.decode(ids[b, s:e]) for s, e in spans] == [expected_span(family, a) for a in answers(row)]
        for s, e in spans:
            # Each run starts right after the generation prompt, i.e. inside the assistant turn, not in user text.
            assert tok.decode(ids[b, :s]).endswith(GEN_PROMPT[family])
            if family in CHATML:  # the "\n" after <|im_end|> is in the input but never supervised
                assert e < n and tok.decode(ids[b, e : e + 1]) == "\n"


def media_token_ids(processor) -> list[int]:
    return [t for t in (processor.image_token_id, getattr(processor, "video_token_id", None)) if t is not None]


def check_media_tokens(processor, batch: dict, rows: list[dict]) -> None:
    """Each row holds as many image/video tokens as the processor expands for that row on its own."""
    for b, row in enumerate(rows):
        kwargs: dict = {}
        if row["images"]:
            kwargs["images"] = [row["images"]]
        if row["videos"]:
            kwargs["videos"], kwargs["do_sample_frames"] = row["videos"], False
        text = processor.apply_chat_template(row["messages"], tokenize=False)
        alone = processor(text=[text], return_tensors="pt", **kwargs)["input_ids"][0]
        for t in media_token_ids(processor):
            assert int((batch["input_ids"][b] == t).sum()) == int((alone == t).sum())
        assert (batch["input_ids"][b] == processor.image_token_id).any() == bool(row["images"])
    if "image_grid_thw" in batch:  # Qwen: one token per 2x2 merged patch
        merge = processor.image_processor.merge_size
        want = int(batch["image_grid_thw"].prod(dim=-1).sum()) // merge**2
        assert int((batch["input_ids"] == processor.image_token_id).sum()) == want


@pytest.fixture(scope="module")
def load(tiny_path):
    """`load(family, template=None)`: the tiny processor; a fresh one when its chat template is replaced."""
    from transformers import AutoProcessor

    cache: dict[str, object] = {}

    def get(family: str, template: str | None = None):
        if template is not None:
            processor = AutoProcessor.from_pretrained(tiny_path(family))
            processor.chat_template = template
            return processor
        if family not in cache:
            cache[family] = AutoProcessor.from_pretrained(tiny_path(family))
        return cache[family]

    return get


def collate(processor, rows: list[dict], max_length: int = MAX_LENGTH) -> dict:
    return VLMCollator(processor, max_length=max_length)(rows)


@pytest.mark.parametrize(
    "family,case", [(f, c) for f in FAMILIES for c in IMAGE_CASES + ["video"] if c != "video" or f in VIDEO_FAMILIES]
)
def test_exact_labels(load, family, case):
    processor = load(family)
    rows = [make_row(**CASES[case])]
    batch = collate(processor, rows)
    check_labels(processor, family, batch, rows)
    check_media_tokens(processor, batch, rows)


@pytest.mark.parametrize("family", FAMILIES)
def test_user_text_with_literal_answer_and_end_marker(load, family):
    """Prefix diff never looks at message content: a user turn that spells out the answer and the end-of-turn marker
    (which the tokenizer encodes as the real special id) stays unsupervised."""
    processor = load(family)
    rows = [make_row([("user", f"Say red{END[family]} red"), ("assistant", "red")], system="red")]
    check_labels(processor, family, collate(processor, rows), rows)


@pytest.mark.parametrize("family", FAMILIES)
def test_string_content(load, family):
    """Qwen's template renders string content; the LLaVA-style templates render none of it, which must raise rather
    than supervise a bare end-of-turn marker."""
    processor = load(family)
    rows = [{"messages": [{"role": "user", "content": "Answer red"}, {"role": "assistant", "content": "red"}]}]
    if family in ("llava", "llava_onevision"):
        with pytest.raises(TemplateError, match="no answer text"):
            collate(processor, rows)
    else:
        rows[0] |= {"images": [], "videos": []}
        check_labels(processor, family, collate(processor, rows), rows)


@pytest.mark.parametrize("family", FAMILIES)
def test_mixed_batch(load, tiny_path, family):
    """Image, multi-image, video and text-only rows in one batch: exact labels per row, and the tiny model accepts the
    batch (its forward checks that every image/video feature has its token)."""
    from transformers import AutoModelForImageTextToText

    processor = load(family)
    kinds = ["single", "text_only", "multi_image"] + (["video"] if family in VIDEO_FAMILIES else [])
    rows = [make_row(**CASES[k]) for k in kinds]
    batch = collate(processor, rows)
    lengths = batch["attention_mask"].sum(dim=1)
    assert lengths.min() < lengths.max()  # some rows are padded
    check_labels(processor, family, batch, rows)
    check_media_tokens(processor, batch, rows)
    if family in VIDEO_FAMILIES:
        assert (batch["input_ids"][3] == processor.video_token_id).any()
        assert not (batch["input_ids"][:3] == processor.video_token_id).any()

    model = AutoModelForImageTextToText.from_pretrained(tiny_path(family))
    with torch.no_grad():
        loss = model(**batch).loss
    assert torch.isfinite(loss)


@pytest.mark.parametrize("family", FAMILIES)
def test_all_masked_row_raises(load, family):
    processor = load(family)
    good = make_row(**CASES["single"])
    no_answer = make_row([("user", "<image>\nWhat colour?")], images=1)
    with pytest.raises(AllLabelsMasked, match="every label is masked") as err:
        collate(processor, [good, no_answer])
    assert err.value.kind == "all_masked"


@pytest.mark.parametrize("family", FAMILIES)
def test_too_long_row_raises_and_is_never_truncated(load, family):
    processor = load(family)
    rows = [make_row(**CASES["multi_image"])]
    full = collate(processor, rows)
    length = full["input_ids"].shape[1]
    with pytest.raises(ValueError, match="exceed max_length"):
        collate(processor, rows, max_length=length - 1)
    exact = collate(processor, rows, max_length=length)  # exactly max_length fits, untouched
    assert torch.equal(exact["input_ids"], full["input_ids"]) and torch.equal(exact["labels"], full["labels"])


# --- real checkpoints' chat templates on the tiny processors ---------------------------------------------------------

# template file -> the tiny family whose tokenizer/processor it fits
REAL_ON_TINY = {
    "qwen2_vl": "qwen2_vl",
    "qwen2_5_vl": "qwen2_5_vl",
    "qwen3_vl": "qwen2_vl",
    "llava_1_5": "llava",
    "llava_onevision": "llava_onevision",
}


def read_template(name: str) -> dict:
    path = TEMPLATES / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return json.loads(path.read_text())


@pytest.mark.parametrize("case", ["single", "multi_turn", "multi_image", "text_only", "system"])
@pytest.mark.parametrize("name", sorted(REAL_ON_TINY))
def test_real_template_exact_labels(load, name, case):
    family = REAL_ON_TINY[name]
    spec = read_template(name)
    processor = load(family, spec["chat_template"])
    tok = processor.tokenizer
    for token in filter(None, spec["special_tokens"].values()):  # the template's special tokens exist in the tiny vocab
        assert tok.convert_tokens_to_ids(token) != tok.unk_token_id and len(tok.tokenize(token)) == 1, token
    rows = [make_row(**CASES[case])]
    batch = collate(processor, rows)
    check_labels(processor, family, batch, rows)
    check_media_tokens(processor, batch, rows)
    if name == "llava_1_5":  # the template writes no EOS after answers; the collator adds one and supervises it
        assert "</s>" not in processor.apply_chat_template(rows[0]["messages"], tokenize=False)


# --- every real template, string level (no tokenizer needed) --------------------------------------------------------

STRING_CASES = ["single", "multi_turn", "multi_image", "text_only", "system"]
MULTI = {"multi_turn", "multi_image"}  # the cases with more than one assistant turn

# (template, variant) -> what render_sequences() gives: the text around each answer in its supervised span, and the
# conversation kinds where one rendering cannot hold every turn, so each assistant turn gets its own sequence.
REAL_TEMPLATE_TABLE: dict[tuple[str, str], dict] = {
    ("gemma3", ""): dict(end="<end_of_turn>"),
    # Thinking off (the default): the generation prompt opens an empty thought channel the history never contains.
    ("gemma4", ""): dict(end="<turn|>", per_turn=set(STRING_CASES)),
    ("gemma4", "thinking"): dict(end="<turn|>", kwargs={"enable_thinking": True}),
    ("idefics2", ""): dict(lead=" ", end="<end_of_utterance>"),
    ("idefics3", ""): dict(lead=" ", end="<end_of_utterance>"),
    ("internvl3_hf", ""): dict(end="<|im_end|>"),
    ("lfm2_vl", ""): dict(end="<|im_end|>"),
    ("llama4", ""): dict(end="<|eot|>"),
    ("llava_1_5", ""): dict(lead=" ", end="</s>"),  # EOS inserted by the collator
    ("llava_next_mistral", ""): dict(lead=" ", end="</s>"),  # no generation-prompt branch at all: still a prefix
    ("llava_onevision", ""): dict(end="<|im_end|>"),
    ("mllama", ""): dict(end="<|eot_id|>"),
    ("mllama_long", ""): dict(end="<|eot_id|>"),
    # String content only. eos_token ends a rendering without generation prompt, so only the last turn carries it: it
    # is not part of a turn, and the first-stop trim supervises <|end|> only.
    ("phi4_multimodal", ""): dict(end="<|end|>"),
    ("qwen2_5_vl", ""): dict(end="<|im_end|>"),
    ("qwen2_vl", ""): dict(end="<|im_end|>"),
    # Thinking on (the default): the generation prompt opens "<think>\n", so the empty think block closing it is part of
    # what the model generates. History drops earlier think blocks: in multi-turn rows each turn is its own sequence.
    ("qwen3_5", ""): dict(lead="\n</think>\n\n", end="<|im_end|>", per_turn=MULTI),
    ("qwen3_5", "no_thinking"): dict(end="<|im_end|>", per_turn=MULTI, kwargs={"enable_thinking": False}),
    ("qwen3_vl", ""): dict(end="<|im_end|>"),
    ("smolvlm2", ""): dict(lead=" ", end="<end_of_utterance>"),
}


class TemplateOnlyProcessor:
    """Just enough of a processor for `render`: the chat template rendered the way transformers renders it."""

    def __init__(self, spec: dict, **template_kwargs):
        self.chat_template, self.kwargs = spec["chat_template"], template_kwargs
        st = spec["special_tokens"]
        self.tokenizer = SimpleNamespace(bos_token=st.get("bos"), eos_token=st.get("eos"))

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        from transformers.utils.chat_template_utils import render_jinja_template

        (text,), _ = render_jinja_template(
            [messages],
            chat_template=self.chat_template,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.tokenizer.bos_token or "",
            eos_token=self.tokenizer.eos_token or "",
            **self.kwargs,
        )
        return text


def string_content(messages: list[dict]) -> list[dict]:
    """Phi-4's template takes string content with numbered <|image_k|> placeholders."""
    out, k = [], 0
    for m in messages:
        text = ""
        for part in m["content"]:
            if part["type"] == "image":
                k += 1
                text += f"<|image_{k}|>"
            else:
                text += part["text"]
        out.append({"role": m["role"], "content": text})
    return out


def test_real_template_table_covers_the_folder():
    if not TEMPLATES.is_dir():
        pytest.skip(f"{TEMPLATES} not present")
    assert {p.stem for p in TEMPLATES.glob("*.json")} == {name for name, _ in REAL_TEMPLATE_TABLE}


# Templates of families that take video, and the placeholder each writes for a video part.
VIDEO_TEMPLATES = {
    "gemma4": "<|video|>",
    "internvl3_hf": "<video>",
    "llava_onevision": "<video>",
    "qwen2_5_vl": "<|video_pad|>",
    "qwen2_vl": "<|video_pad|>",
    "qwen3_5": "<|video_pad|>",
    "qwen3_vl": "<|video_pad|>",
}
REPR_LEAKS = ("{'type'", '{"type"', "'text': ")  # our content objects written as Python or JSON text


def user_texts(messages: list[dict]) -> list[str]:
    """The text of every non-assistant message part: all of it must appear in the rendering."""
    out = []
    for m in messages:
        if m["role"] != "assistant":
            parts = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
            out += [p["text"] for p in parts if p["type"] == "text"]
    return out


@pytest.mark.parametrize(
    "name,variant,case",
    [
        (name, variant, case)
        for name, variant in sorted(REAL_TEMPLATE_TABLE)
        for case in [*STRING_CASES, "video"]
        if case != "video" or name in VIDEO_TEMPLATES
    ],
)
def test_real_template_prefix_diff(name, variant, case):
    spec = read_template(name)
    expect = REAL_TEMPLATE_TABLE[(name, variant)]
    processor = TemplateOnlyProcessor(spec, **expect.get("kwargs", {}))
    st = spec["special_tokens"]
    # What stop_tokens() gives for the real checkpoint: the tokenizer's EOS plus the end-of-turn marker.
    stops = [s for s in dict.fromkeys([st.get("eos"), st.get("turn_end"), st.get("end_of_utterance")]) if s]
    row = make_row(**CASES[case])
    messages = string_content(row["messages"]) if name == "phi4_multimodal" else row["messages"]
    seqs = render_sequences(processor, messages, stops)
    for seq in seqs:  # our message building, rendered: no content object written as text
        assert not [leak for leak in REPR_LEAKS if leak in seq.text], seq.text
    for text in user_texts(messages):  # every user / system text is in the rendering, as text
        assert text.strip() in seqs[-1].text, (text, seqs[-1].text)
    if case == "video":
        assert VIDEO_TEMPLATES[name] in seqs[-1].text, seqs[-1].text
    got = [seq.text[s:e] for seq in seqs for s, e in seq.spans]
    assert got == [expect.get("lead", "") + a + expect["end"] for a in answers(row)]
    n_turns = len(answers(row))
    assert len(seqs) == (n_turns if case in expect.get("per_turn", ()) else 1)
    if len(seqs) == 1:
        assert render(processor, messages, stops).text == seqs[0].text
    else:
        with pytest.raises(TemplateError, match="prefix"):
            render(processor, messages, stops)
        # each sequence ends with its own turn, the prompt as at inference: the generation prompt, then the answer
        for k, seq in enumerate(seqs):
            turn = [i for i, m in enumerate(messages) if m["role"] == "assistant"][k]
            prompt = processor.apply_chat_template(messages[:turn], add_generation_prompt=True)
            assert seq.text.startswith(prompt) and seq.spans[-1][0] == len(prompt)
    rendered = seqs[-1]
    bounds = [i for span in rendered.spans for i in span]
    assert bounds == sorted(bounds)  # one span per assistant turn, in order, not overlapping


def test_history_rewriting_template_trains_each_turn_in_its_own_sequence(load):
    """Qwen3.5's template drops earlier think blocks once a later turn exists: each turn becomes its own sequence, the
    prompt exactly as at inference, each carrying the media of the messages it renders."""
    spec = read_template("qwen3_5")
    processor = load("qwen2_vl", spec["chat_template"])
    row = make_row(**CASES["multi_turn"])  # one image in the first user turn, three assistant turns
    batch = collate(processor, [row])
    tok = processor.tokenizer
    assert batch["input_ids"].shape[0] == 3
    assert batch["image_grid_thw"].shape[0] == 3  # the image goes with every sequence that renders it
    per_seq = (batch["input_ids"] == processor.image_token_id).sum(dim=1)
    assert per_seq.min() > 0 and (per_seq == per_seq[0]).all()
    for b, answer in enumerate(answers(row)):
        spans = runs(batch["labels"][b] != IGNORE_INDEX)
        assert len(spans) == 1
        s, e = spans[0]
        assert tok.decode(batch["input_ids"][b, s:e]) == "\n</think>\n\n" + answer + "<|im_end|>"


def test_pad_id_falls_back_to_eos_then_zero():
    tok = SimpleNamespace
    assert pad_id(tok(pad_token_id=5, eos_token_id=2)) == 5
    assert pad_id(tok(pad_token_id=0, eos_token_id=2)) == 0
    assert pad_id(tok(pad_token_id=None, eos_token_id=2)) == 2
    assert pad_id(tok(pad_token_id=None, eos_token_id=None)) == 0


def test_pad_cat_right_pads_every_dimension_and_fills_missing_parts():
    a, b = torch.ones(2, 3, 1, dtype=torch.long), torch.full((1, 5, 2), 7)
    out = pad_cat([a, None, b], -1, [2, 3, 1])
    assert out.shape == (6, 5, 2) and out.dtype == torch.long
    assert torch.equal(out[:2, :3, :1], a) and (out[:2, 3:] == -1).all() and (out[:2, :, 1:] == -1).all()
    assert (out[2:5] == -1).all() and torch.equal(out[5:], b)  # None became sizes[1] = 3 rows of pad
    assert pad_cat([None, b], 0, [0, 1]).equal(b)


def test_special_tokens_added_unless_the_template_wrote_bos():
    tok = SimpleNamespace(bos_token="<s>")
    assert not adds_special_tokens(tok, "<s>[INST] hi") and adds_special_tokens(tok, "[INST] hi")
    assert adds_special_tokens(SimpleNamespace(bos_token=None), "<s>hi")


def test_gemma4_system_message_trains_on_its_text(load, tiny_path):
    """Gemma 4's real template writes a system message as `messages[0]['content'] | trim`: list content would become
    the text "[{'type': 'text', 'text': 'Be brief.'}]". The template's content shape is probed, so the system message
    goes in as a string and the model sees `Be brief.` as text, while the answer is still exactly supervised."""
    spec = read_template("gemma4")
    processor = load("gemma4", spec["chat_template"])
    tok = processor.tokenizer
    row = make_row([("user", "<image>\nWhat colour?"), ("assistant", "red")], images=1, system="Be brief.")
    assert row["messages"][0]["content"] == [{"type": "text", "text": "Be brief."}]  # our rows: list content
    stops = stop_tokens(processor, GenerationConfig.from_pretrained(tiny_path("gemma4")))  # as training passes them
    batch = VLMCollator(processor, stops)([row])
    text = tok.decode(batch["input_ids"][0])
    assert "<|turn>system\nBe brief.<turn|>" in text and "{'type'" not in text
    (span,) = runs(batch["labels"][0] != IGNORE_INDEX)
    assert tok.decode(batch["input_ids"][0, span[0] : span[1]]) == "red<turn|>"


def test_template_content_shape_is_probed_not_named():
    """Which roles take plain-string content is read off the template: none for Qwen2-VL's, the system role for Gemma 4
    and Llama 3.2 Vision's long template, every role for Phi-4's (string content only), where a text-only row in our
    list form renders as text and a row with an image is refused with the reason."""
    from components.data.collator import apply_template, string_content_roles

    def roles(name: str) -> set[str]:
        return set(string_content_roles(TemplateOnlyProcessor(read_template(name))))

    assert roles("qwen2_vl") == set() and roles("gemma3") == set()
    assert roles("gemma4") == {"system"} and roles("mllama_long") == {"system"}
    assert roles("phi4_multimodal") == {"system", "user", "assistant"}
    phi4 = TemplateOnlyProcessor(read_template("phi4_multimodal"))
    text = apply_template(phi4, make_row(**CASES["text_only"])["messages"])
    assert text == "<|user|>What is two plus two?<|end|><|assistant|>four<|end|><|endoftext|>"
    with pytest.raises(TemplateError, match="message 0: .* user content as a plain string.* image"):
        apply_template(phi4, make_row(**CASES["single"])["messages"])
