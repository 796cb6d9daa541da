"""The example plugin checks itself with Kara's plugin test kit, as any plugin should."""

from kara_example.mulaw import MuLawTransform

from kara_core.testing import check_transform


def test_mulaw_passes_the_kara_transform_contract():
    check_transform(MuLawTransform)


def test_mulaw_with_other_options_passes_too():
    check_transform(MuLawTransform, frame_size=100, mu=15.0)
