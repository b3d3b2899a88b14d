"""After training: LoRA merge, inference, smoke test, MLflow registration and promotion."""
