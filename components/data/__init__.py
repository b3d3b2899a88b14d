"""The data stage: LLaVA-style rows, media decoding and caching, validation, the collator."""
