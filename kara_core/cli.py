"""The ``kara`` command: argparse front end; every user error is one red line, exit 2.

Sub-commands live in :mod:`kara_core.commands`, one module each, and import their heavy
dependencies inside ``run`` so that ``kara --help``, ``kara plugins`` and ``kara check``
start fast and never import TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Iterator, Sequence

from kara_core import __version__
from kara_core.errors import KaraError

COMMAND_ORDER = ("run", "check", "plugins", "prepare", "audit", "train", "generate", "compare")
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler, a closing terminal session), handled as Ctrl-C is: the
    stage saves what it has finished and the command says how to continue."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def _user_facing(debug: bool) -> Iterator[None]:
    """While a command runs: SIGTERM raises :class:`Terminated`, and (unless ``debug``)
    numpy's RuntimeWarnings and matplotlib's warnings are not printed: a user sees one
    line per problem, said by Kara; ``--debug`` shows them."""
    import signal
    import threading
    import warnings

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.filterwarnings("ignore", module="matplotlib")
            yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        from kara_core.storage.locks import release_in_use

        release_in_use()  # what the command read is free for clean and prepare again


def command_names() -> list[str]:
    """Modules in :mod:`kara_core.commands`, in help order (known ones first)."""
    import pkgutil

    from kara_core import commands

    found = {m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")}
    order = {name: i for i, name in enumerate(COMMAND_ORDER)}
    return sorted(found, key=lambda n: (order.get(n, len(order)), n))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with one sub-parser per command module."""
    parser = argparse.ArgumentParser(
        prog="kara",
        description="Neural audio generation experiments: decode mp3s, turn audio into "
        "frames, train a model on them (by default lstm_lm, a frame language model: LSTMs "
        "predicting a mixture of Gaussians over the next log-mel frame), generate, and "
        "measure every step against real music.",
    )
    parser.add_argument("--version", action="version", version=f"kara {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_names():
        module = importlib.import_module(f"kara_core.commands.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from kara_core.console import debugging, set_debug

    debug = bool(args.debug) or debugging()
    set_debug(debug)  # one channel: commands and their worker processes read debugging()
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        with _user_facing(debug):
            return int(args.func(args) or 0)
    except KaraError as exc:
        if debug:
            raise
        from kara_core.console import print_error

        print_error(str(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if debug:
            raise
        import shlex

        from kara_core.console import print_error

        again = shlex.join(["kara", *(sys.argv[1:] if argv is None else argv)])
        terminated = isinstance(sys.exc_info()[1], Terminated)
        print_error(f"{'terminated (SIGTERM)' if terminated else 'interrupted'}; finished "
                    f"work is kept: run '{again}' to continue")
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug: in a plugin's code it is one line naming the plugin
        line = None if debug else _plugin_fault(exc)
        if line is None:
            raise
        from kara_core.console import print_error

        print_error(line)
        return EXIT_USER_ERROR


def _plugin_fault(exc: BaseException) -> str | None:
    """The one line of :func:`kara_core.errors.plugin_fault` when ``exc`` was raised in the
    code of an installed plugin's component, else ``None`` (a bug in Kara: its traceback)."""
    from kara_core.errors import plugin_fault
    from kara_core.plugins import get_plugin_manager

    try:
        registry = get_plugin_manager().registry
    except Exception:  # the plugins cannot even be loaded now: show the original traceback
        return None
    return plugin_fault(exc, list(registry))


if __name__ == "__main__":
    raise SystemExit(main())
