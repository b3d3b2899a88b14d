"""Glue between config and the library: resolve the model, validate and prepare the dataset, read the cache."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from components.artifacts import LineRows, MediaCache, PreparedDataset, Sample
from components.config import RunConfig
from components.data import media
from components.data.batching import IGNORE_INDEX
from components.data.collator import (
    AllLabelsMasked,
    VLMCollator,
    adds_special_tokens,
    checkpoint_stop_tokens,
    supervised_positions,
)
from components.data.media_cache import MediaSettings, load_cached_image, load_cached_video, media_key
from components.data.remote import check_data_buckets
from components.data.row_checks import model_limit
from components.data.rows import DatasetFileError, media_root, read_rows, resolve_media, to_messages
from components.data.validate import RowCache, apply_policy, validate_samples
from components.data.validation_cache import ValidationCache, context_key, processor_key
from components.models.loading import ModelRef
from components.storage import StorageError, is_uri, object_token, read_bytes

log = logging.getLogger(__name__)


def dataset_fingerprint(cfg: RunConfig, base: Path | None = None) -> str:
    """Cheap content fingerprint of the dataset files and the media their rows name (bytes of the JSON, size+mtime of
    each media file, resolved as validation resolves it), used as a step parameter so that validation re-runs when
    the data changes. A file that cannot be read contributes its bytes only: validation reports it."""
    base = base or Path.cwd()
    h = hashlib.sha256()
    d = cfg.data
    for p in (d.train_path, d.eval_path):
        if is_uri(p):  # an object store: its bytes, and each media object's version (ETag, time, size)
            try:
                h.update(read_bytes(p))
                rows = read_rows(p)
            except (StorageError, DatasetFileError) as e:
                h.update(f"{p}:{e}".encode())
                continue
        elif not p or not (base / p).is_file():
            continue
        else:
            h.update((base / p).read_bytes())
            try:
                rows = read_rows(base / p)
            except DatasetFileError:
                continue
        for key, folder in (("image", d.image_folder), ("video", d.video_folder)):
            root = media_root(folder, p if is_uri(p) else base / p, base)
            for row in rows:
                names = row.get(key) if isinstance(row, dict) else None
                for name in [names] if isinstance(names, str) else names if isinstance(names, list) else []:
                    if not isinstance(name, str):
                        continue
                    if is_uri(root) or is_uri(name):
                        uri = resolve_media(name, root)
                        try:
                            h.update(f"{uri}:{object_token(str(uri))}".encode())
                        except StorageError:
                            h.update(f"{uri}:missing".encode())
                        continue
                    try:
                        st = os.stat(root / name)
                    except OSError:
                        h.update(f"{root / name}:missing".encode())
                        continue
                    h.update(f"{root / name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def loaded_media(sample: Sample, cfg: RunConfig) -> tuple[list, list]:
    """The sample's media exactly as preprocessing will produce them (the row's own overrides included)."""
    s = MediaSettings.from_config(cfg.data).for_row(sample.max_frames, sample.max_pixels)
    images = [media.load_image(p, s.min_pixels, s.max_pixels) for p in sample.images]
    videos = [media.load_video(p, s.num_frames, s.max_fps, s.max_pixels)[0] for p in sample.videos]
    return images, videos


def collator_row(sample: Sample, cfg: RunConfig) -> dict:
    """The collator's row for a sample, media loaded as preprocessing loads them (what RowsDataset gives training)."""
    images, videos = loaded_media(sample, cfg)
    return {"messages": to_messages(sample), "images": images, "videos": videos, "index": sample.index}


def run_stop_tokens(ref: ModelRef, processor) -> list[str]:
    """The stop tokens of the run's checkpoint, as validation and training both use them."""
    return checkpoint_stop_tokens(processor, ref.path, ref.revision, ref.trust_remote_code)


def batch_token_counts(batch: dict) -> tuple[int, int]:
    """(num_tokens, num_supervised) of one row's batch: a row may become several sequences (templates that rewrite
    history), the longest must fit; supervised tokens are counted over all of them."""
    return int(batch["attention_mask"].sum(dim=1).max()), int((batch["labels"] != IGNORE_INDEX).sum())


# Processors whose media-token count is a function of the media's size alone (_get_num_multimodal_tokens), with the
# placeholder token expanded in place: for them a row is counted from its text tokens plus the sizes, without decoding
# or running the image processor. Each is proven equal to the collator's count on every example row
# (tests/test_labels.py::test_validation_counts_tokens_as_the_training_collator); any other processor is counted
# through the collator.
SIZE_ONLY_PROCESSORS = frozenset({"Qwen2VLProcessor", "Qwen2_5_VLProcessor"})


class _NoFastPath(Exception):
    """This row (or processor) is counted through the collator."""


class TokenCounter:
    """(num_tokens, num_supervised) of a sample, with media tokens, as the training collator counts it (the one token
    count rule): rendered by the model's own chat template through the collator's own `sequences`, with the
    checkpoint's stop tokens (`run_stop_tokens`, as components/train/recipe.py).

    Where the processor is one of SIZE_ONLY_PROCESSORS, the text is tokenized by the fast tokenizer and each media item
    adds the tokens its size gives (images: the size from the file header after preprocessing's resize, computed as
    media.target_size resizes; videos: the frames load_video samples, memoised per file and settings). Every other
    row, and any row the size rule does not cover, goes through the collator with its media loaded as preprocessing
    loads them."""

    def __init__(self, cfg: RunConfig, processor, ref: ModelRef | None = None, fast: bool = True):
        self.cfg, self.processor = cfg, processor
        self.collator = VLMCollator(processor, run_stop_tokens(ref or ModelRef.from_config(cfg.model), processor))
        self.fast = fast and self._size_only(processor)
        self.memo: dict[tuple[str, str], dict[MediaSettings, int]] = {}  # (kind, path) -> settings -> media tokens
        self.counted = {"fast": 0, "collator": 0}

    @staticmethod
    def _size_only(processor) -> bool:
        if type(processor).__name__ not in SIZE_ONLY_PROCESSORS:
            return False
        tok, image = processor.tokenizer, getattr(processor, "image_processor", None)
        return bool(getattr(tok, "is_fast", False) and image is not None and getattr(image, "do_resize", True))

    def __call__(self, sample: Sample) -> tuple[int, int]:
        if self.fast:
            try:
                counts = self._count_fast(sample)
                self.counted["fast"] += 1
                return counts
            except _NoFastPath:
                pass
        self.counted["collator"] += 1
        return batch_token_counts(self.collator([collator_row(sample, self.cfg)]))

    def _media_tokens(self, kind: str, path: str, s: MediaSettings) -> int:
        known = self.memo.setdefault((kind, path), {})
        if s not in known:
            try:
                if kind == "image":
                    width, height = media.target_size(*media.upright_size(path), s.min_pixels, s.max_pixels)
                    data = self.processor._get_num_multimodal_tokens(image_sizes=[(height, width)])
                    known[s] = int(data.num_image_tokens[0])
                else:
                    video = getattr(self.processor, "video_processor", None)
                    if video is None or getattr(video, "cap_pixels_per_frame", None) or not video.do_resize:
                        raise _NoFastPath
                    frames = media.load_video(path, s.num_frames, s.max_fps, s.max_pixels)[0]
                    data = self.processor._get_num_multimodal_tokens(video_sizes=[frames.shape[:3]])
                    known[s] = int(data.num_video_tokens[0])
            except (ValueError, OSError, AttributeError, KeyError, TypeError) as e:
                raise _NoFastPath from e  # the collator path gives the exact error (or count)
        return known[s]

    def media_facts(self, kind: str, path: str) -> list | None:
        """The media tokens known for this file, as JSON ([[settings key, tokens], ...]), or None (validation stores
        them with the file's digest: components/data/validate.py)."""
        known = self.memo.get((kind, path))
        return [[s.key(), n] for s, n in known.items()] if known else None

    def learn_media(self, kind: str, path: str, facts: list) -> None:
        known = self.memo.setdefault((kind, path), {})
        for key, n in facts:
            known.setdefault(MediaSettings(**json.loads(key)), n)

    def _count_fast(self, sample: Sample) -> tuple[int, int]:
        s = MediaSettings.from_config(self.cfg.data).for_row(sample.max_frames, sample.max_pixels)
        row = {
            "messages": to_messages(sample),
            "images": [self._media_tokens("image", p, s) for p in sample.images],
            "videos": [self._media_tokens("video", p, s) for p in sample.videos],
            "index": sample.index,
        }
        seqs = self.collator.sequences([row])  # the collator's renderings (its TemplateErrors, as training raises them)
        tok = self.collator.tokenizer
        texts = [rend.text for _, rend, _ in seqs]
        enc = tok(texts, add_special_tokens=adds_special_tokens(tok, texts[0]), return_offsets_mapping=True)
        image_id, video_id = self.processor.image_token_id, self.processor.video_token_id
        lengths, supervised = [], 0
        for (b, rend, item), ids, offsets in zip(seqs, enc["input_ids"], enc["offset_mapping"], strict=True):
            if ids.count(image_id) != len(item["images"]) or ids.count(video_id) != len(item["videos"]):
                raise _NoFastPath  # a placeholder not written once per media item: let the processor expand it
            lengths.append(len(ids) + sum(n - 1 for n in item["images"]) + sum(n - 1 for n in item["videos"]))
            pos = supervised_positions(ids, offsets, rend.spans, ids, rend.text)
            if not pos:
                raise AllLabelsMasked(f"row {item.get('index', b)}: every label is masked (no assistant tokens)")
            supervised += len(pos)
        return max(lengths), supervised


def token_counter(cfg: RunConfig, processor, ref: ModelRef | None = None, fast: bool = True) -> TokenCounter:
    """The one token count of validation (TokenCounter)."""
    return TokenCounter(cfg, processor, ref, fast)


def validation_context(cfg: RunConfig, ref: ModelRef, processor, counter: TokenCounter, specials, base: Path) -> str:
    """The result-cache context of a run's validation: the processor (its files, stop tokens), the settings that decide
    a row's outcome (data settings, max_length, the special tokens, the family's limits) and the validation code."""
    data = cfg.data.model_dump(mode="json", exclude={"train_path", "eval_path", "on_invalid", "num_workers"})
    limits = {k: model_limit(ref.entry, k, None) for k in ("name", "images", "multi_image", "video", "system_prompt")}
    return context_key(
        processor_key(ref.path, ref.revision, processor, counter.collator.stops),
        data,
        str(base),
        cfg.train.max_length,
        list(specials),
        limits,
        counter.fast,
    )


def prepare_dataset(
    cfg: RunConfig,
    base: Path | None = None,
    *,
    cache: ValidationCache | None | bool = True,
    stats: dict[str, dict] | None = None,
) -> tuple[PreparedDataset, list]:
    """Validate train and eval files for the configured model; returns the dataset and the reports.

    The per-row checks run in `data.num_workers` processes; `cache` is the per-row result cache (True: the one under
    the cache root, validation_cache.default_path(); False / None: none). `stats` receives each split's
    validate_samples stats, and the token counter's (rows counted from sizes, rows through the collator)."""
    base = base or Path.cwd()
    ref = ModelRef.from_config(cfg.model)
    processor, fam = ref.load_processor(), ref.entry
    tok = processor.tokenizer
    # every token the tokenizer matches as a whole (special or merely added), except the dataset's own placeholders
    specials = sorted((set(tok.all_special_tokens) | set(tok.get_added_vocab())) - {"<image>", "<video>"})
    d = cfg.data
    check_data_buckets(d.train_path, d.eval_path, d.image_folder, d.video_folder)  # wrong credentials: fail first
    counter = token_counter(cfg, processor, ref)
    store = ValidationCache() if cache is True else cache or None
    row_cache = RowCache(store, validation_context(cfg, ref, processor, counter, specials, base)) if store else None
    splits, reports, quarantine = {}, [], []
    for split, path in (("train", cfg.data.train_path), ("eval", cfg.data.eval_path)):
        if not path:
            splits[split] = []
            continue
        samples, report = validate_samples(
            path if is_uri(path) else base / path,
            cfg.data,
            base=base,
            model_limits=fam,
            token_length=counter,
            special_tokens=specials,
            max_length=cfg.train.max_length,
            workers=cfg.data.num_workers,
            cache=row_cache,
            stats=stats.setdefault(split, {}) if stats is not None else None,
        )
        kept, dropped = apply_policy(samples, report, cfg.data.on_invalid)
        splits[split] = kept
        reports.append((split, report))
        quarantine += [{**q, "split": split} for q in dropped]
    paths = [p for split in splits.values() for p in media_paths(split)]
    digests = store.digests(paths) if store else {p: media.file_digest(p) for p in paths}
    summary = {split: r.to_dict() for split, r in reports}
    if stats is not None:
        stats["counted"] = dict(counter.counted)  # in this process (forked workers count their own)
    return PreparedDataset(splits["train"], splits["eval"], digests, summary, quarantine), reports


def media_paths(samples: Sequence[Sample]) -> Iterator[str]:
    """The media paths the samples name (a LineRows knows them without decoding its rows)."""
    if isinstance(samples, LineRows):
        return iter(samples.media)
    return (p for s in samples for p in s.images + s.videos)


class CachedRows(Sequence[Sample]):
    """A view of samples (a list or a lazily read ShardedRows) with each media path replaced by its key in the cache
    mapping (rows with their own max_frames or shrunk max_pixels were preprocessed under their own settings): rows
    are keyed as they are read, none are copied up front."""

    def __init__(self, samples: Sequence[Sample], cache: MediaCache):
        self.samples, self.default = samples, MediaSettings(**cache.settings)

    def keyed(self, s: Sample) -> Sample:
        settings = self.default.for_row(s.max_frames, s.max_pixels)
        if settings == self.default:
            return s
        return replace(
            s,
            images=[media_key(p, settings, self.default) for p in s.images],
            videos=[media_key(p, settings, self.default) for p in s.videos],
        )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.keyed(s) for s in self.samples[i]]
        return self.keyed(self.samples[i])

    def __iter__(self) -> Iterator[Sample]:
        return map(self.keyed, self.samples)


def cached_rows(samples: Sequence[Sample], cache: MediaCache) -> CachedRows:
    """The samples as RowsDataset reads them with cached_loaders (see CachedRows)."""
    return CachedRows(samples, cache)


def cached_loaders(cache: MediaCache):
    def image(path: str):
        return load_cached_image(cache.mapping[path])

    def video(path: str):
        return load_cached_video(cache.mapping[path])[0]

    return image, video
