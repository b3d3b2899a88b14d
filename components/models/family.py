"""The declarative family entry and the model-list entry (no heavy imports: families/*.py import only this)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """What the generic path needs to know about a model family; everything else (labels, collation, LoRA targets) is
    derived from the checkpoint's own processor and chat template.

    vision / projector / llm: module-name prefixes of the parts (the most specific prefix wins, so a projector may
    sit inside the vision tower); the defaults are the layout most transformers VLMs share. auto_class: the
    transformers auto class that loads it. images / multi_image / video: the media the model takes; validation
    rejects rows asking for more. known_bugs: (error text, explanation) pairs of upstream bugs; an error containing
    the text is re-raised with the explanation, so the family starts working when a release fixes it. remote_code:
    the model exists only as code shipped with the checkpoint (needs the per-model `trust_remote_code` opt-in).
    quirks: named behaviours the generic code understands (see docs/add_new_model.md).
    """

    name: str
    model_types: tuple[str, ...] = ()  # config.model_type values it covers; default: (name,)
    # The layout most transformers VLMs share (LLaVA and its descendants); families elsewhere say so.
    vision: tuple[str, ...] = ("model.vision_tower",)
    projector: tuple[str, ...] = ("model.multi_modal_projector",)
    llm: tuple[str, ...] = ("model.language_model",)
    auto_class: str = "AutoModelForImageTextToText"
    images: bool = True
    multi_image: bool = True
    video: bool = False
    remote_code: bool = False
    # Padding-free packing (components/train/packing.py): several samples per row, positions restarting per sample.
    # A family that cannot pack sets False and says why in `notes`.
    packing: bool = True
    # False where the model cannot take image rows and video rows in one batch (GLM-4.xV in transformers 5.24): the
    # trainer then forms every batch from one media kind (components/train/trainer.py MediaGroupedSampler).
    mixed_media_batches: bool = True
    # False where the chat template refuses system messages (Molmo 2): validation rejects rows that carry one.
    system_prompt: bool = True
    known_bugs: tuple[tuple[str, str], ...] = ()
    quirks: frozenset[str] = frozenset()
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.model_types:
            object.__setattr__(self, "model_types", (self.name,))


@dataclass(frozen=True)
class ModelEntry:
    model_id: str
    family: str
    hub_path: str
    tiny: bool = False
    trust_remote_code: bool = False
    notes: str = ""
