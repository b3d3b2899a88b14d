"""Glue between config and the library: resolve the model, validate and prepare the dataset, read the cache."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from pathlib import Path

from components.artifacts import MediaCache, PreparedDataset, Sample
from components.config import RunConfig
from components.data import media
from components.data.batching import IGNORE_INDEX
from components.data.collator import VLMCollator, checkpoint_stop_tokens
from components.data.media_cache import MediaSettings, load_cached_image, load_cached_video, media_key
from components.data.remote import check_data_buckets
from components.data.rows import DatasetFileError, media_root, read_rows, resolve_media, to_messages
from components.data.validate import apply_policy, validate_samples
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


def token_counter(cfg: RunConfig, processor, ref: ModelRef | None = None):
    """(num_tokens, num_supervised) of a sample, with media tokens, computed by the model's own processor through the
    training collator with the checkpoint's stop tokens (`run_stop_tokens`, as components/train/recipe.py)."""
    collator = VLMCollator(processor, run_stop_tokens(ref or ModelRef.from_config(cfg.model), processor))

    def count(sample: Sample) -> tuple[int, int]:
        return batch_token_counts(collator([collator_row(sample, cfg)]))

    return count


def prepare_dataset(cfg: RunConfig, base: Path | None = None) -> tuple[PreparedDataset, list]:
    """Validate train and eval files for the configured model; returns the dataset and the reports."""
    base = base or Path.cwd()
    ref = ModelRef.from_config(cfg.model)
    processor, fam = ref.load_processor(), ref.entry
    tok = processor.tokenizer
    # every token the tokenizer matches as a whole (special or merely added), except the dataset's own placeholders
    specials = sorted((set(tok.all_special_tokens) | set(tok.get_added_vocab())) - {"<image>", "<video>"})
    d = cfg.data
    check_data_buckets(d.train_path, d.eval_path, d.image_folder, d.video_folder)  # wrong credentials: fail first
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
            token_length=token_counter(cfg, processor, ref),
            special_tokens=specials,
            max_length=cfg.train.max_length,
        )
        kept, dropped = apply_policy(samples, report, cfg.data.on_invalid)
        splits[split] = kept
        reports.append((split, report))
        quarantine += [{**q, "split": split} for q in dropped]
    digests = {p: media.file_digest(p) for s in splits["train"] + splits["eval"] for p in s.images + s.videos}
    summary = {split: r.to_dict() for split, r in reports}
    return PreparedDataset(splits["train"], splits["eval"], digests, summary, quarantine), reports


def cached_rows(samples: list[Sample], cache: MediaCache) -> list[Sample]:
    """The samples with each media path replaced by its key in the cache mapping (rows with their own max_frames or
    shrunk max_pixels were preprocessed under their own settings), for RowsDataset with cached_loaders."""
    default = MediaSettings(**cache.settings)

    def keyed(s: Sample) -> Sample:
        settings = default.for_row(s.max_frames, s.max_pixels)
        if settings == default:
            return s
        return replace(
            s,
            images=[media_key(p, settings, default) for p in s.images],
            videos=[media_key(p, settings, default) for p in s.videos],
        )

    return [keyed(s) for s in samples]


def cached_loaders(cache: MediaCache):
    def image(path: str):
        return load_cached_image(cache.mapping[path])

    def video(path: str):
        return load_cached_video(cache.mapping[path])[0]

    return image, video
