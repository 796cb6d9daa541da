"""lstm_lm: the frame language model with mse, mixture and tokens heads, at tiny sizes.

Shapes of every head, sampling repeatable with a seed, temperature changing the spread and
0 being deterministic, the codebook saved and loaded, a resumed run continuing exactly like
an uninterrupted one, the Model contract (check_model), the crop stream, train.steps, the
held-out scores against baselines of each head's kind, and training under a mirrored
strategy.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from kara_lstm.lm.heads import top_p_filter
from kara_lstm.lm.model import LmOptions, LstmLm

from kara_core.components import FitSettings
from kara_core.config import TrainConfig
from kara_core.errors import KaraError
from kara_core.pipeline.train.windows import WindowSet
from kara_core.plugins import get_plugin_manager
from kara_core.testing import check_model
from kara_core.testkit.models import FRAME_DIM, sequence
from tests.support.cli import REPO

HEADS = ("mse", "mixture", "tokens")
TINY = {"layers": 1, "units": 12, "crop_frames": 16, "components": 2, "codes": 16,
        "input_frames": 8, "output_frames": 4}


def songs() -> WindowSet:
    return WindowSet([sequence(120, seed=0), sequence(90, seed=1)], 8, 4, stride=4)


def trained(head: str, epochs: int = 2, **options: Any) -> LstmLm:
    model = LstmLm(LmOptions(**{**TINY, "head": head, **options}), frame_dim=FRAME_DIM, seed=0)
    data = songs()
    model.fit(data, data, FitSettings(epochs=epochs, batch_size=8, steps_per_epoch=5,
                                      learning_rate=1e-2))
    return model


@pytest.fixture(scope="module", params=HEADS)
def model(request: pytest.FixtureRequest) -> LstmLm:
    return trained(request.param)


def test_lstm_lm_is_registered_beside_seq2seq():
    registry = get_plugin_manager().registry
    entry = registry.get("models", "lstm_lm")
    assert entry.cls is LstmLm and entry.plugin == "kara_lstm"
    assert registry.get("models", "lstm_seq2seq").plugin == "kara_lstm"


@pytest.mark.parametrize("head", [*HEADS, "mixture-changes"])
def test_every_head_meets_the_model_contract(head):
    name, _, basis = head.partition("-")
    check_model(LstmLm, **{**TINY, "head": name, "noise_basis": basis or "features"})


def test_shapes_of_every_head(model):
    prompt = sequence(20, seed=3)
    out = model.generate(prompt, 11, temperature=1.0, seed=0)
    assert out.shape == (11, FRAME_DIM) and out.dtype == np.float32 and np.isfinite(out).all()
    assert model.generate(prompt[:0], 3, temperature=1.0).shape == (3, FRAME_DIM)
    assert model.predict(prompt[None, :8].repeat(3, axis=0)).shape == (3, 4, FRAME_DIM)
    assert model.stochastic == (model.options.head != "mse")


def test_sampling_is_repeatable_with_a_seed_and_differs_between_seeds(model):
    prompt = sequence(20, seed=3)
    first = model.generate(prompt, 30, temperature=1.0, seed=7)
    assert np.array_equal(first, model.generate(prompt, 30, temperature=1.0, seed=7))
    assert not np.array_equal(first, model.generate(prompt, 30, temperature=1.0, seed=8))


def test_temperature_zero_is_deterministic_and_the_most_likely_output(model):
    prompt = sequence(20, seed=3)
    greedy = model.generate(prompt, 20, temperature=0.0, seed=1)
    assert np.array_equal(greedy, model.generate(prompt, 20, temperature=0.0, seed=2))
    # predict is the same most likely rollout, from its 8-frame window
    assert np.allclose(model.generate(prompt[-8:], 4, temperature=0.0),
                       model.predict(prompt[None, -8:])[0], atol=1e-5)


def test_temperature_changes_the_spread(model):
    prompt = sequence(20, seed=3)

    def spread(temperature: float) -> float:
        runs = [model.generate(prompt, 40, temperature=temperature, seed=s) for s in range(4)]
        return float(np.std(np.stack(runs), axis=0).mean())  # spread across seeds

    assert spread(0.0) == 0.0
    assert spread(0.3) < spread(1.0) < spread(2.0)


def test_tokens_codebook_is_saved_and_loaded(tmp_path):
    model = trained("tokens", epochs=1)
    assert model.codebook is not None and model.codebook.size == TINY["codes"]
    model.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "codebook.npz").exists()
    again = LstmLm(model.options, frame_dim=FRAME_DIM, seed=5)
    again.load(tmp_path / "saved")
    assert np.array_equal(again.codebook.centroids, model.codebook.centroids)
    prompt = sequence(20, seed=3)
    assert np.allclose(again.generate(prompt, 15, 1.0, seed=4),
                       model.generate(prompt, 15, 1.0, seed=4), atol=1e-5)
    (tmp_path / "saved" / "codebook.npz").unlink()
    with pytest.raises(KaraError, match="codebook"):
        LstmLm(model.options, frame_dim=FRAME_DIM).load(tmp_path / "saved")


def test_emitted_tokens_are_centroids_at_temperature_zero_and_spread_around_them():
    model = trained("tokens", epochs=1, token_noise=1.0)
    centroids = model.codebook.centroids
    prompt = sequence(20, seed=3)
    greedy = model.generate(prompt, 10, temperature=0.0)
    assert all(np.isclose(centroids, row, atol=1e-6).all(axis=1).any() for row in greedy)
    sampled = model.generate(prompt, 10, temperature=1.0, seed=1)
    assert not any(np.isclose(centroids, row, atol=1e-6).all(axis=1).any() for row in sampled)


@pytest.mark.parametrize("head", ["mixture", "tokens"])
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, head):
    data = songs()
    options = LmOptions(**{**TINY, "head": head})

    def settings(epochs: int, **extra: Any) -> FitSettings:
        return FitSettings(epochs=epochs, batch_size=8, steps_per_epoch=3, seed=0, **extra)

    straight = LstmLm(options, frame_dim=FRAME_DIM)
    straight.fit(data, data, settings(2))
    first = LstmLm(options, frame_dim=FRAME_DIM)
    first.fit(data, data, settings(1))
    first.save_state(tmp_path / "state")
    resumed = LstmLm(options, frame_dim=FRAME_DIM, seed=9)
    result = resumed.fit(data, data, settings(2, initial_epoch=1,
                                              resume_from=tmp_path / "state"))
    assert result.epochs_completed == 2
    for a, b in zip(straight._net.get_weights(), resumed._net.get_weights(), strict=True):
        assert np.allclose(a, b, atol=1e-5)
    if head == "tokens":
        assert np.array_equal(straight.codebook.centroids, resumed.codebook.centroids)


def test_heldout_scores_against_baselines_of_each_heads_kind():
    data = songs()
    mixture = trained("mixture", epochs=4).heldout_score(data, data)
    assert mixture is not None and mixture["measure"] == "nll_bits_per_frame"
    assert mixture["gain"] == pytest.approx(mixture["baseline"] - mixture["model"])
    assert mixture["gain"] > 0  # sinusoids are predictable: it learned something
    tokens = trained("tokens", epochs=4).heldout_score(data, data)
    assert tokens is not None and tokens["measure"] == "cross_entropy_bits"
    assert tokens["skill"] == pytest.approx(1 - tokens["model"] / tokens["baseline"])
    assert trained("mse", epochs=1).heldout_score(data, data) is None


def test_top_p_keeps_the_smallest_nucleus_and_always_the_top_class():
    import tensorflow as tf

    probs = np.array([[0.05, 0.6, 0.3, 0.05]], np.float32)
    kept = top_p_filter(tf.constant(np.log(probs)), 0.8).numpy()[0] > -1e8
    assert kept.tolist() == [False, True, True, False]
    kept = top_p_filter(tf.constant(np.log(probs)), 0.0).numpy()[0] > -1e8
    assert kept.tolist() == [False, True, False, False]


def test_crops_are_seeded_skippable_shardable_and_normalised():
    frames = sequence(50, seed=0)
    data = WindowSet([frames], 8, 4, stride=4, mean=np.full(FRAME_DIM, 1.0),
                     std=np.full(FRAME_DIM, 2.0))
    batch = data.crop_batch(3, 5, 16, seed=1)
    assert batch.shape == (5, 16, FRAME_DIM) and batch.dtype == np.float32
    assert np.array_equal(batch, data.crop_batch(3, 5, 16, seed=1))
    assert not np.array_equal(batch, data.crop_batch(4, 5, 16, seed=1))
    raw = batch * 2.0 + 1.0  # every crop is a stretch of the song
    assert all(any(np.allclose(row, frames[s : s + 16], atol=1e-5) for s in range(35))
               for row in raw)
    stream = [b.numpy() for b in data.crops(5, 16, seed=1, skip_batches=2).take(2)]
    assert np.array_equal(stream[0], data.crop_batch(2, 5, 16, seed=1))
    shard = [b.numpy() for b in data.crops(5, 16, seed=1, shard=(2, 1)).take(2)]
    assert np.array_equal(shard[1], data.crop_batch(3, 5, 16, seed=1))
    assert data.crop_length(500) == 50  # longer than every song: the longest song


def test_songs_shorter_than_a_crop_are_never_cropped():
    data = WindowSet([sequence(10), sequence(40, seed=1)], 4, 2, stride=2)
    batch = data.crop_batch(0, 20, 30, seed=0)
    assert batch.shape == (20, 30, FRAME_DIM)


def test_train_steps_become_evaluation_intervals():
    config = TrainConfig(steps=1000)
    assert (config.steps_per_epoch, config.epochs) == (250, 4)
    assert TrainConfig(steps=100).epochs == 1
    assert (TrainConfig(steps=1000, steps_per_epoch=300).epochs) == 4
    assert TrainConfig().steps is None and TrainConfig().steps_per_epoch is None


MIRRORED = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kara_core.components import FitSettings
from kara_core.pipeline.train.windows import WindowSet
from kara_core.testkit.models import sequence
from kara_lstm.lm.model import LmOptions, LstmLm
data = WindowSet([sequence(120), sequence(90, seed=1)], 8, 4, stride=4)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
model = LstmLm(LmOptions(layers=1, units=8, crop_frames=16, components=2), frame_dim=6)
result = model.fit(data, data, FitSettings(epochs=2, batch_size=8, steps_per_epoch=4,
                                           strategy=strategy))
out = model.generate(sequence(10), 5, temperature=1.0, seed=0)
print(result.epochs_completed, np.isfinite(result.history["loss"]).all(), out.shape)
"""


def test_trains_under_a_mirrored_strategy():
    done = subprocess.run([sys.executable, "-c", MIRRORED], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-4:] == ["2", "True", "(5,", "6)"]


def test_training_records_the_held_out_score_against_the_heads_own_baseline(tmp_path):
    """metrics.json, the summary line and the table say whether the model learned, in the
    terms of its own head: bits per frame over one Gaussian for the mixture."""
    from kara_core.pipeline.parts import featurize, train_variant
    from kara_core.pipeline.train import summary_line
    from kara_core.report.columns import COLUMNS
    from kara_core.report.table import RunRecord
    from tests.support.training import variant_of, write_config, write_songs

    songs = write_songs(tmp_path)
    config = write_config(
        tmp_path, train="{steps: 6, steps_per_epoch: 3, batch_size: 4, seed: 0, "
        "distribute: none, patience: 0, judge_seconds: 0}",
    )
    text = config.read_text().replace(
        "model: {type: lstm_seq2seq, options: ",
        "model: {type: lstm_lm, options: {layers: 1, units: 8, head: mixture, components: 2, "
        "crop_frames: 16}}\n# ")
    config.write_text(text)
    variant = variant_of(config)
    features = featurize(variant, songs, show_progress=False)
    metrics = train_variant(variant, features, show_progress=False)
    heldout = metrics["heldout"]
    assert heldout["measure"] == "nll_bits_per_frame"
    assert heldout["gain"] == pytest.approx(heldout["baseline"] - heldout["model"])
    assert heldout["text"].endswith("bits/frame vs one full-covariance Gaussian")
    assert "held out: " + heldout["text"] in summary_line("base", metrics)
    column = next(c for c in COLUMNS if c.key == "heldout")
    assert column.text(RunRecord("base", tmp_path, metrics)) == heldout["text"]


def test_the_step_budget_scales_with_the_amount_of_training_music():
    """One kara.yaml for the demo's minute and for an hour: steps_per_minute cuts the
    budget of a small collection, never below MIN_STEPS, never above train.steps."""
    from kara_core.config.schema import MIN_STEPS

    train = TrainConfig(steps=1500, steps_per_minute=60)
    assert (train.steps_per_epoch, train.epochs) == (250, 6)
    demo = train.for_music(1.0)
    assert (demo.steps, demo.steps_per_epoch, demo.epochs) == (MIN_STEPS, MIN_STEPS, 1)
    small = train.for_music(5.0)
    assert (small.steps, small.steps_per_epoch, small.epochs) == (300, 150, 2)  # exactly 300
    assert (TrainConfig(steps=300).steps_per_epoch, TrainConfig(steps=300).epochs) == (150, 2)
    assert train.for_music(60.0) is train  # a real collection gets the whole budget
    assert TrainConfig(steps=1500).for_music(1.0).steps == 1500  # no steps_per_minute


def test_mixture_noise_is_diagonal_in_the_noise_basis_not_per_feature():
    import tensorflow as tf
    from kara_lstm.lm.heads import MixtureHead

    dim = 4
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(dim, dim)))
    head = MixtureHead(dim, components=1)
    head.set_basis(rotation)
    log_sigma = np.log([1.0, 0.05, 0.05, 0.05])  # all the spread along the first direction
    params = tf.constant(np.concatenate([[0.0], np.zeros(dim), log_sigma])[None], tf.float32)
    base = tf.zeros((1, dim))
    draws = np.stack([head.sample(params, base, tf.constant(1.0), tf.constant([s, 0]))[0]
                      for s in range(400)])
    direction = np.linalg.eigh(np.cov(draws, rowvar=False))[1][:, -1]
    assert abs(float(direction @ rotation[:, 0])) > 0.99  # the samples move along it
    # the loss is the density of N(mean, R diag(sigma^2) R^T): a rotated full covariance
    target = np.array([0.3, -0.2, 0.5, 0.1], np.float32)
    covariance = rotation @ np.diag(np.exp(2 * log_sigma)) @ rotation.T
    expected = 0.5 * (target @ np.linalg.solve(covariance, target)
                      + np.linalg.slogdet(covariance)[1] + dim * np.log(2 * np.pi))
    assert float(head.loss(params, base, tf.constant(target[None]))[0]) == pytest.approx(
        expected, rel=1e-4)


def test_the_noise_basis_is_fitted_on_training_changes_saved_loaded_and_resumed(tmp_path):
    model = trained("mixture", epochs=1, noise_basis="changes")
    basis = model.noise_basis
    assert basis is not None and np.allclose(basis.T @ basis, np.eye(FRAME_DIM), atol=1e-4)
    model.save(tmp_path / "saved")
    again = LstmLm(model.options, frame_dim=FRAME_DIM, seed=5)
    again.load(tmp_path / "saved")
    prompt = sequence(20, seed=3)
    assert np.allclose(again.generate(prompt, 15, 1.0, seed=4),
                       model.generate(prompt, 15, 1.0, seed=4), atol=1e-5)
    model.save_state(tmp_path / "state")
    resumed = LstmLm(model.options, frame_dim=FRAME_DIM, seed=9)
    resumed.load_state(tmp_path / "state")
    assert np.array_equal(resumed.noise_basis, basis)
    np.save(tmp_path / "saved" / "noise_basis.npy", np.eye(FRAME_DIM, dtype=np.float32))
    with pytest.raises(KaraError, match=r"noise_basis\.npy: missing or altered"):
        LstmLm(model.options, frame_dim=FRAME_DIM).load(tmp_path / "saved")
    assert LstmLm(LmOptions(**TINY), frame_dim=FRAME_DIM).noise_basis is None


# --------------------------------------------------------------------------- style_frames

STYLE = {**TINY, "style_frames": 6}


def test_a_style_model_meets_the_model_contract():
    check_model(LstmLm, **{**STYLE, "head": "mixture", "noise_basis": "changes"})


def test_the_style_is_the_mean_and_spread_of_the_frames_before_each_crop():
    import tensorflow as tf

    model = LstmLm(LmOptions(**{**STYLE, "head": "mse"}), frame_dim=FRAME_DIM)
    crops = np.random.default_rng(0).normal(size=(3, 6 + 16, FRAME_DIM)).astype(np.float32)
    (frames, style), targets = model.network_inputs(tf.constant(crops), 6)
    assert np.array_equal(frames.numpy(), crops[:, 6:-1])
    assert np.array_equal(targets.numpy(), crops[:, 7:])
    before = crops[:, :6].astype(np.float64)
    expected = np.concatenate([before.mean(axis=1), before.std(axis=1)], axis=-1)
    assert np.allclose(style.numpy(), expected, atol=1e-4)
    assert model.crop_parts(songs()) == (6, 16)  # songs of 90 and 120 frames: both parts
    short = WindowSet([sequence(11, seed=0)], 8, 2, stride=1)
    assert model.crop_parts(short) == (3, 8)  # 11 frames shared in proportion (6:16)


def test_generation_reads_the_prompt_with_the_style_of_its_end_as_training_does():
    """The first generated frame (temperature 0) is what the trained network predicts for
    the prompt given the style of the prompt's last style_frames frames: one definition of
    the style in training and generation."""
    import tensorflow as tf
    from kara_lstm.lm.network import style_vector

    model = trained("mse", epochs=1, style_frames=6)
    prompt = sequence(20, seed=3)
    first = model.generate(prompt, 1, temperature=0.0)[0]
    params, base = model._net([tf.constant(prompt[None]),
                               style_vector(tf.constant(prompt[None, -6:]))])
    assert np.allclose(first, (params + base).numpy()[0, -1], atol=1e-5)
    whole_prompt_style = model._net([tf.constant(prompt[None]),
                                     style_vector(tf.constant(prompt[None]))])
    assert not np.allclose(first, (whole_prompt_style[0] + whole_prompt_style[1]).numpy()[0, -1],
                           atol=1e-5)


def test_a_style_model_scores_its_held_out_frames_after_the_style_part():
    model = trained("mixture", epochs=1, style_frames=6)
    score = model.heldout_score(songs(), songs())
    assert score is not None and np.isfinite(score["model"]) and np.isfinite(score["baseline"])


# --------------------------------------------------------------------------- song vector

SONG = {**TINY, "song_dims": 3, "song_frames": 10}


def test_a_song_vector_model_meets_the_model_contract():
    check_model(LstmLm, **{**SONG, "head": "mixture", "noise_basis": "changes"})


def test_the_song_vector_is_in_the_signature_only_when_on():
    """Weights saved before the option existed still load: the signature is unchanged."""
    off = LstmLm(LmOptions(**TINY), frame_dim=FRAME_DIM).signature()
    assert "song_dims" not in off and "song_frames" not in off
    on = LstmLm(LmOptions(**SONG), frame_dim=FRAME_DIM).signature()
    assert (on["song_dims"], on["song_frames"]) == (3, 10)


def test_generation_reads_the_song_vector_from_the_end_of_the_prompt():
    """The first generated frame (temperature 0) is what the trained network predicts with
    its song encoder reading the prompt's last song_frames frames; another song segment
    gives another frame, so the vector is used."""
    import tensorflow as tf

    model = trained("mse", epochs=1, **SONG)
    prompt = sequence(30, seed=3)
    first = model.generate(prompt, 1, temperature=0.0)[0]
    params, base = model._net([tf.constant(prompt[None]), tf.constant(prompt[None, -10:])])
    assert np.allclose(first, (params + base).numpy()[0, -1], atol=1e-5)
    other = sequence(10, seed=7) * 3.0
    params, base = model._net([tf.constant(prompt[None]), tf.constant(other[None])])
    assert not np.allclose(first, (params + base).numpy()[0, -1], atol=1e-4)
    windows = np.stack([prompt[:8], prompt[8:16]])
    assert model.predict(windows).shape == (2, 4, FRAME_DIM)


def test_a_song_vector_model_trains_saves_resumes_and_scores_held_out_songs(tmp_path):
    model = trained("mixture", epochs=1, **SONG)
    prompt = sequence(20, seed=3)
    model.save(tmp_path / "saved")
    again = LstmLm(model.options, frame_dim=FRAME_DIM, seed=5)
    again.load(tmp_path / "saved")
    assert np.allclose(again.generate(prompt, 12, 1.0, seed=4),
                       model.generate(prompt, 12, 1.0, seed=4), atol=1e-5)
    model.save_state(tmp_path / "state")
    resumed = LstmLm(model.options, frame_dim=FRAME_DIM, seed=9)
    resumed.load_state(tmp_path / "state")
    assert np.allclose(resumed.generate(prompt, 12, 1.0, seed=4),
                       model.generate(prompt, 12, 1.0, seed=4), atol=1e-5)
    with pytest.raises(KaraError, match="saved for a different architecture"):
        LstmLm(LmOptions(**TINY), frame_dim=FRAME_DIM).load(tmp_path / "saved")
    score = model.heldout_score(songs(), songs())
    assert score is not None and np.isfinite(score["model"]) and np.isfinite(score["baseline"])


def test_the_mixture_samples_no_noise_along_quiet_directions_or_at_noise_scale_zero():
    """noise_scale 0 draws the component's mean; quiet_directions keeps the first basis
    directions (where frames change most) free of noise and leaves the others sampled."""
    import tensorflow as tf
    from kara_lstm.lm.heads import MixtureHead

    dim = 4
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(dim, dim)))
    means = np.array([0.5, -0.5, 1.0, 0.0])
    params = tf.constant(np.concatenate([[0.0], means, np.zeros(dim)])[None], tf.float32)
    base = tf.zeros((1, dim))

    def draws(head: MixtureHead) -> np.ndarray:
        head.set_basis(rotation)
        return np.stack([head.sample(params, base, tf.constant(1.0), tf.constant([s, 0]))[0]
                         for s in range(50)]) @ rotation  # back to basis coordinates

    exact = draws(MixtureHead(dim, 1, noise_scale=0.0))
    assert np.allclose(exact, means, atol=1e-5)
    quiet = draws(MixtureHead(dim, 1, quiet_directions=2))
    assert np.allclose(quiet[:, :2], means[:2], atol=1e-5)
    assert quiet[:, 2:].std(axis=0).min() > 0.5  # the other directions keep sigma 1
    options = LmOptions(**{**TINY, "head": "mixture", "noise_scale": 0.5})
    assert "noise_scale" not in LstmLm(options, frame_dim=FRAME_DIM).signature()


def test_carrying_the_state_across_chained_crops_trains_and_is_refused_with_a_style():
    """carry_crops: chains of crops with the LSTM state carried between them (truncated
    back-propagation through time), with and without a song vector."""
    model = trained("mixture", epochs=2, carry_crops=3, **{k: v for k, v in SONG.items()
                                                          if k not in TINY})
    prompt = sequence(20, seed=3)
    out = model.generate(prompt, 12, 1.0, seed=4)
    assert out.shape == (12, FRAME_DIM) and np.isfinite(out).all()
    assert "carry_crops" not in model.signature()  # training only: the weights are the same
    plain = trained("mixture", epochs=1, carry_crops=2)
    assert np.isfinite(plain.generate(prompt, 5, 1.0, seed=0)).all()
    # the same crops score differently after a batch that left its state, and the same
    # again on a chain's first batch: the state is carried, and reset where a chain starts
    import tensorflow as tf

    loss = plain._carried_loss(4)
    crops = tf.constant(np.stack([sequence(16, seed=s) for s in range(4)]))
    first = float(tf.reduce_mean(loss({"crops": crops, "first": tf.constant(True)})))
    carried = float(tf.reduce_mean(loss({"crops": crops, "first": tf.constant(False)})))
    again = float(tf.reduce_mean(loss({"crops": crops, "first": tf.constant(True)})))
    assert carried != pytest.approx(first, abs=1e-6)
    assert again == pytest.approx(first, abs=1e-5)
    with pytest.raises(KaraError, match="carry_crops and style_frames"):
        trained("mixture", epochs=1, carry_crops=2, style_frames=4)


def test_the_song_vector_tells_songs_apart_even_when_its_activations_grow():
    """A song vector that saturates is one constant for every song (it happened on real
    music: maxima of ~50, every tanh at +-1): scaled up 100x, two songs still differ."""
    from kara_lstm.lm.network import song_encoder

    encoder = song_encoder(FRAME_DIM, 8)
    loud = np.stack([sequence(40, seed=1), sequence(40, seed=2)]) * 100.0
    vectors = encoder(loud).numpy()
    assert np.abs(vectors).max() < 0.999, "the song vector saturated"
    assert np.abs(vectors[0] - vectors[1]).mean() > 0.05
