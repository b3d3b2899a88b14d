"""Model families (declarative entries), the catalog of supported models, loading, and tiny test checkpoints."""
