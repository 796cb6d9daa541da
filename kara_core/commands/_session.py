"""What most commands start with: plugins loaded, load problems shown, kara.yaml resolved."""

from __future__ import annotations

from pathlib import Path

from kara_core.config import ExperimentConfig, load_config
from kara_core.console import print_warning
from kara_core.plugins import Plugins, get_plugin_manager


def load_plugins() -> Plugins:
    """The plugin manager with every allowed plugin; broken plugins are warned about."""
    plugins = get_plugin_manager()
    for problem in plugins.load_errors:
        print_warning(problem)
    return plugins


def load_experiment(path: str | Path) -> tuple[Plugins, ExperimentConfig]:
    """Plugins plus the validated experiment in ``path`` (``./kara.yaml`` when the user
    named none: a one-line error saying so when there is none)."""
    from kara_core.commands._args import config_path

    path = config_path(str(path))
    plugins = load_plugins()
    return plugins, load_config(Path(path), plugins.registry)
