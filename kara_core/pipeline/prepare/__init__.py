"""Stage 1, prepare: every mp3 of the dataset decoded into a WAV, with a manifest."""
