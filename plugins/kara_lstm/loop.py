"""The training loop of kara_lstm's models: one compiled step under any ``tf.distribute``
strategy, the data sharded over its input pipelines, Kara's monitors called around it.

A custom loop rather than ``keras.Model.fit``: Keras 3's ``fit`` cannot run under
``MultiWorkerMirroredStrategy`` (its log reduction fails, tensorflow/tensorflow#72388),
and one loop for every strategy means the single-machine path is the one the
distributed tests exercise. Each replica's loss is averaged over the *global* batch and the
optimiser sums the replicas' gradients, so N replicas of B/N windows train exactly like one
device with B. No XLA: on this project's 2-core CPU reference machine it was slower than
the plain graph for these LSTMs (benchmarks/bench_train.py measures both for Keras).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kara_core import FitResult, FitSettings, KaraError, TrainingMonitor


def global_batch(settings: FitSettings, strategy: Any) -> int:
    """``train.batch_size``, which must divide evenly among the strategy's replicas."""
    replicas = int(strategy.num_replicas_in_sync)
    batch = int(settings.batch_size)
    if batch % replicas:
        raise KaraError(f"train.batch_size: {batch} does not divide among {replicas} "
                        f"replicas; use a multiple of {replicas}")
    return batch


def distributed_data(strategy: Any, batch: int, skip_steps: int, make: Any) -> Any:
    """The training data under ``strategy``: ``make(per_replica_batch, shard, skip_batches)``
    builds each input pipeline's dataset, ``shard`` being ``(pipelines, this one)`` and
    ``skip_batches`` what this pipeline already consumed in ``skip_steps`` global steps (a
    resumed run continues the data where it stopped)."""
    import tensorflow as tf

    def per_worker(context: Any) -> Any:
        per_replica = context.get_per_replica_batch_size(batch)
        shard = (context.num_input_pipelines, context.input_pipeline_id)
        return make(per_replica, shard,
                    skip_steps * (batch // per_replica) // context.num_input_pipelines)

    if int(strategy.num_replicas_in_sync) > 1:
        return strategy.distribute_datasets_from_function(per_worker)
    return per_worker(tf.distribute.InputContext())


def fit_epochs(model: Any, step: Any, data: Any, settings: FitSettings, steps_per_epoch: int,
               callbacks: Sequence[TrainingMonitor]) -> FitResult:
    """Tell the monitors training begins, run the epochs, and say what was done."""
    monitors = list(callbacks)
    for monitor in monitors:
        monitor.on_train_begin(model, steps_per_epoch)
    history = run_epochs(step, data, epochs=settings.epochs,
                         initial_epoch=settings.initial_epoch,
                         steps_per_epoch=steps_per_epoch, monitors=monitors)
    return FitResult(history=history,
                     epochs_completed=settings.initial_epoch + len(history["loss"]),
                     stopped_early=any(m.stop_requested for m in monitors))


def per_example_loss(name: str) -> Any:
    """``loss(targets, predicted) -> [B]``: the mean over frames and features."""
    import keras
    import tensorflow as tf

    if name == "huber":
        elementwise = keras.losses.Huber(reduction=None)
    elif name == "mae":
        elementwise = keras.losses.MeanAbsoluteError(reduction=None)
    else:
        elementwise = keras.losses.MeanSquaredError(reduction=None)

    def loss(targets: Any, predicted: Any) -> Any:
        return tf.reduce_mean(elementwise(targets, predicted), axis=-1)

    return loss


def make_train_step(net: Any, optimizer: Any, strategy: Any, loss_name: str,
                    global_batch: int) -> Any:
    """A compiled ``step(iterator) -> mean loss over the global batch`` for the seq2seq's
    teacher-forced batches ``((context, previous), targets)``."""
    loss_fn = per_example_loss(loss_name)

    def per_example(batch: Any) -> Any:
        (context, previous), targets = batch
        return loss_fn(targets, net([context, previous], training=True))

    return make_step(per_example, net.trainable_variables, optimizer, strategy, global_batch)


def make_step(per_example: Any, variables: Any, optimizer: Any, strategy: Any,
              global_batch: int) -> Any:
    """A compiled ``step(iterator) -> mean loss over the global batch`` for any model:
    ``per_example(batch) -> [B]`` losses of one replica's batch (``lstm_lm`` uses it).
    The same averaging over the global batch as :func:`make_train_step`."""
    import tensorflow as tf

    def replica_step(batch: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(per_example(batch), global_batch_size=global_batch)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    @tf.function
    def step(iterator: Any) -> Any:
        losses = strategy.run(replica_step, args=(next(iterator),))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    return step


def run_epochs(
    step: Any, data: Any, *, epochs: int, initial_epoch: int, steps_per_epoch: int,
    monitors: Sequence[TrainingMonitor],
) -> dict[str, list[float]]:
    """Epochs ``initial_epoch .. epochs - 1`` of ``steps_per_epoch`` steps each; returns the
    per-epoch mean training loss. Stops after the step where a monitor asks to."""
    history: dict[str, list[float]] = {"loss": []}
    iterator = iter(data)

    def stopping() -> bool:
        return any(m.stop_requested for m in monitors)

    for epoch in range(initial_epoch, epochs):
        for monitor in monitors:
            monitor.on_epoch_begin(epoch)
        total, done = 0.0, 0
        for number in range(steps_per_epoch):
            total += float(step(iterator))
            done += 1
            for monitor in monitors:
                monitor.on_batch_end(number, total / done)
            if stopping():
                break
        logs = {"loss": total / done if done else math.nan}
        for monitor in monitors:
            monitor.on_epoch_end(epoch, logs)
        history["loss"].append(logs["loss"])
        if stopping():
            break
    for monitor in monitors:
        monitor.on_train_end()
    return history
