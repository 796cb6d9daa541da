"""Saving and loading kara_lstm's models (``lstm_lm`` and ``lstm_seq2seq``): weights for
the exported model, full state for resuming.

A model here keeps its Keras network in ``_net``, its optimiser (once built) in
``_optimizer``, and builds both in ``_ensure_built()``; ``lstm_lm`` adds the tokens head's
``codebook`` and the mixture head's ``noise_basis``. ``save``: ``weights.weights.h5`` +
``model.json`` (signature, weights hash) + ``codebook.npz`` / ``noise_basis.npy``.
``save_state``: one ``state.npz`` with the weights, the optimiser's variables, codebook and
basis, so a killed run resumes exactly where its checkpoint was. Every file is written
atomically; a folder saved for another architecture is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from kara_core import KaraError, atomic

WEIGHTS_FILE = "weights.weights.h5"
META_FILE = "model.json"
STATE_FILE = "state.npz"
CODEBOOK_FILE = "codebook.npz"
BASIS_FILE = "noise_basis.npy"
CODEBOOK_KEYS = ("centroids", "scales", "counts")


def save_weights(model: Any, directory: Path) -> None:
    """The exported model: weights, codebook or basis, then ``model.json`` naming each file
    with its SHA-256."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    atomic.write_with(weights, model._net.save_weights, suffix=".weights.h5")
    extras: dict[str, str] = {}
    codebook = getattr(model, "codebook", None)
    if codebook is not None:
        arrays = codebook.to_arrays()
        atomic.write_with(directory / CODEBOOK_FILE, lambda tmp: np.savez(tmp, **arrays),
                          suffix=".npz")
        extras[CODEBOOK_FILE] = atomic.sha256_of(directory / CODEBOOK_FILE)
    basis = getattr(model, "noise_basis", None)
    if basis is not None:
        atomic.write_with(directory / BASIS_FILE, lambda tmp: np.save(tmp, basis), suffix=".npy")
        extras[BASIS_FILE] = atomic.sha256_of(directory / BASIS_FILE)
    atomic.write_json(directory / META_FILE, {
        "signature": model.signature(), "weights_sha256": atomic.sha256_of(weights),
        "files_sha256": extras,
    })


def load_weights(model: Any, directory: Path) -> None:
    """Restore what :func:`save_weights` wrote (refusing a mismatched or altered folder)."""
    meta = check_meta(model, directory)
    weights = directory / WEIGHTS_FILE
    if atomic.sha256_of(weights) != meta.get("weights_sha256"):
        raise KaraError(f"{weights}: does not match {directory / META_FILE}; retrain")
    for name, digest in dict(meta.get("files_sha256") or {}).items():
        if _sha256(directory / name) != digest:
            raise KaraError(f"{directory / name}: missing or altered since it was saved "
                            f"(see {directory / META_FILE}); retrain")
    _load_codebook(model, directory / CODEBOOK_FILE)
    if getattr(model, "uses_noise_basis", False):
        try:
            model.set_noise_basis(np.load(directory / BASIS_FILE, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise KaraError(f"{directory / BASIS_FILE}: cannot read the mixture head's noise "
                            f"basis ({exc}); retrain") from None
    model._ensure_built()
    model._net.load_weights(str(weights))


def _sha256(path: Path) -> str | None:
    try:
        return atomic.sha256_of(path)
    except OSError:
        return None


def save_state(model: Any, directory: Path) -> None:
    """Weights, optimiser variables and codebook in one ``state.npz``."""
    arrays = {f"w{i}": w for i, w in enumerate(model._net.get_weights())}
    if model._optimizer is not None:
        arrays.update({f"o{i}": np.asarray(v) for i, v in enumerate(model._optimizer.variables)})
    codebook = getattr(model, "codebook", None)
    if codebook is not None:
        arrays.update({f"codebook_{k}": v for k, v in codebook.to_arrays().items()})
    basis = getattr(model, "noise_basis", None)
    if basis is not None:
        arrays["noise_basis"] = basis
    directory.mkdir(parents=True, exist_ok=True)
    atomic.write_with(directory / STATE_FILE, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
    atomic.write_json(directory / META_FILE, {"signature": model.signature()})


def load_state(model: Any, directory: Path) -> None:
    """Restore what :func:`save_state` wrote; the learning rate stays today's setting."""
    check_meta(model, directory)
    model._ensure_built()
    with np.load(directory / STATE_FILE) as data:
        if all(f"codebook_{k}" in data.files for k in CODEBOOK_KEYS):
            _set_codebook(model, {k: data[f"codebook_{k}"] for k in CODEBOOK_KEYS})
        if "noise_basis" in data.files:
            model.set_noise_basis(data["noise_basis"])
        model._net.set_weights([data[f"w{i}"] for i in range(len(model._net.weights))])
        optimizer = model._optimizer
        if optimizer is not None:
            variables = list(optimizer.variables)
            if sum(1 for k in data.files if k.startswith("o")) != len(variables):
                raise KaraError(f"{directory}: optimiser state does not fit this model")
            for i, variable in enumerate(variables):
                # lowering the learning rate is how a user recovers from a diverging run
                if variable.name != "learning_rate":
                    variable.assign(data[f"o{i}"])


def check_meta(model: Any, directory: Path) -> dict[str, Any]:
    """``model.json`` of ``directory``, when it was saved for ``model``'s architecture."""
    path = directory / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KaraError(f"{path}: cannot read saved model ({exc})") from None
    if meta.get("signature") != json.loads(json.dumps(model.signature())):
        raise KaraError(f"{directory}: saved for a different architecture "
                        f"({meta.get('signature')}); retrain with --rebuild")
    return dict(meta)


def _load_codebook(model: Any, path: Path) -> None:
    if getattr(model.options, "head", None) != "tokens":
        return
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in CODEBOOK_KEYS}
    except (OSError, KeyError, ValueError) as exc:
        raise KaraError(f"{path}: cannot read the tokens head's codebook ({exc})") from None
    _set_codebook(model, arrays)


def _set_codebook(model: Any, arrays: dict[str, np.ndarray]) -> None:
    from kara_lstm.lm.codebook import Codebook

    model.set_codebook(Codebook.from_arrays(arrays))
