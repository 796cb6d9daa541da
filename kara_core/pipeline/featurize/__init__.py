"""Stage 2, featurize: prepared WAVs -> normalised transform frames in a memory-mapped cache."""
