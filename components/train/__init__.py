"""The training stage: which parts train and how (PEFT), the HF Trainer recipe, packing, loss, launch, resume."""
