"""Stage 3, train: windows or crops from the cache -> a model, checkpointed and scored."""
