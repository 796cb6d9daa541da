"""Measures of audio: a transform's round trip, and how music-like generated audio is."""
