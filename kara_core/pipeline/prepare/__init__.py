"""Stage 1, prepare: every mp3 of the dataset decoded into a WAV, with a manifest.

The stage's front door: other stages and the commands import from here, never from the
modules inside. :func:`prepare` takes :class:`PrepareSettings` and the built decoders
(:class:`NamedDecoder`, primary first) and returns a :class:`PrepareReport`.
"""

from kara_core.pipeline.prepare.jobs import default_workers
from kara_core.pipeline.prepare.manifest import load as load_manifest
from kara_core.pipeline.prepare.outcome import PreparedSong, PrepareReport
from kara_core.pipeline.prepare.plan import (
    NamedDecoder,
    PrepareSettings,
    check_collection,
    collection_problem,
    distinct_datasets,
    find_sources,
    prepare_identity,
)
from kara_core.pipeline.prepare.stage import no_usable_message, prepare, run_prepare

__all__ = [
    "NamedDecoder",
    "PrepareReport",
    "PrepareSettings",
    "PreparedSong",
    "check_collection",
    "collection_problem",
    "default_workers",
    "distinct_datasets",
    "find_sources",
    "load_manifest",
    "no_usable_message",
    "prepare",
    "prepare_identity",
    "run_prepare",
]
