"""The generate stage: prompts continued by a trained model, turned back into audio.

Its front door is :func:`generate` (model, transform, prompts, settings and the frames'
scale in; :class:`Clips` out). The prompts come from the held-out music
(:func:`kara_core.pipeline.evaluate.held_out_music`) or from the user's file
(:func:`load_prompt_file`).
"""

from kara_core.pipeline.generate.audio import (
    LIMITER_SECONDS,
    PEAK_TARGET,
    FrameScale,
    Generation,
    clip_to_training_range,
    frames_for,
    generate_audio,
    limit_peaks,
    prompt_frames,
    write_audio,
)
from kara_core.pipeline.generate.clips import (
    Clips,
    GenerateSettings,
    generate,
    generation_record,
)
from kara_core.pipeline.generate.prompts import (
    MAX_ROUNDTRIP_SECONDS,
    clip_file,
    describe_prompt,
    load_prompt_file,
    note_short_prompt,
    prompt_offsets,
    prompt_seed,
)

__all__ = [
    "LIMITER_SECONDS", "MAX_ROUNDTRIP_SECONDS", "PEAK_TARGET", "Clips", "FrameScale",
    "GenerateSettings", "Generation", "clip_file", "clip_to_training_range", "describe_prompt",
    "frames_for", "generate", "generate_audio", "generation_record", "limit_peaks",
    "load_prompt_file", "note_short_prompt", "prompt_frames", "prompt_offsets", "prompt_seed",
    "write_audio",
]
