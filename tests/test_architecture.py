"""Architecture rules users feel: fast start-up, a core that knows only contracts,
and every hook documented and tested."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kara_core import hookspecs
from tests.support.cli import REPO

PLUGIN_PACKAGES = {"kara_lame", "kara_soundfile", "kara_transforms", "kara_lstm",
                   "kara_baselines"}
HEAVY = ("tensorflow", "keras", "librosa")


def hook_names() -> list[str]:
    return sorted(name for name in dir(hookspecs) if name.startswith("kara_"))


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_kara_core_never_imports_a_plugin_package():
    offenders = {
        str(path.relative_to(REPO)): sorted(imports_of(path) & PLUGIN_PACKAGES)
        for path in (REPO / "kara_core").rglob("*.py")
        if imports_of(path) & PLUGIN_PACKAGES
    }
    assert offenders == {}


def test_no_module_imports_tensorflow_at_module_level():
    """TensorFlow is imported only inside the functions that need it."""
    offenders = []
    for folder in ("kara_core", "plugins"):
        for path in (REPO / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(n.split(".")[0] in HEAVY for n in names):
                    offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["plugins"], ["plugins", "--json"], ["check", "kara.yaml"]],
)
def test_fast_commands_never_import_tensorflow(argv):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['kara', *{argv!r}]\n"
        "try:\n"
        "    from kara_core.cli import main\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert "HEAVY=\n" in result.stderr or result.stderr.rstrip().endswith("HEAVY="), result.stderr


def test_help_starts_without_numpy():
    """``kara --help`` answers in a few hundredths of a second: the public API module loads
    its numpy-backed contracts only when a command uses them."""
    code = ("import sys\nfrom kara_core.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\nprint('NUMPY=' + str('numpy' in sys.modules), "
            "file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert "NUMPY=False" in result.stderr, result.stderr


def test_every_hook_is_documented_in_docs_plugins_md():
    docs = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    missing = [name for name in hook_names() if f"`{name}(register)`" not in docs]
    assert missing == []


def test_every_hook_has_a_test():
    tests_text = "\n".join(
        p.read_text(encoding="utf-8") for p in (REPO / "tests").glob("test_*.py")
        if p.name != "test_architecture.py"
    )
    untested = [name for name in hook_names()
                if not re.search(rf"^def test_hook_{name}\(", tests_text, re.M)]
    assert untested == []


def test_every_builtin_plugin_is_an_entry_point():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert set(project["entry-points"]["kara"]) == PLUGIN_PACKAGES
    for name in PLUGIN_PACKAGES:
        assert (REPO / "plugins" / name / "__init__.py").is_file()


def test_version_flag():
    result = subprocess.run([sys.executable, "-m", "kara_core", "--version"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert re.fullmatch(r"kara \d+\.\d+\.\d+\S*\n", result.stdout)


DRIVER = {
    "kara_core/pipeline/experiment.py": {"run_variant", "run_experiment", "write_run_record",
                                         "write_config_record",
                                         "describe_transform", "_record_failure"},
    # the driver's part builders: every function
    "kara_core/pipeline/parts/__init__.py": None,
    "kara_core/pipeline/parts/build.py": None,
    "kara_core/pipeline/parts/generation.py": None,
}
"""Where a whole ``VariantConfig`` may be taken below the commands: the experiment driver
(``run_variant``, ``run_experiment`` and the run records) and the builders of each
stage's parts (:mod:`kara_core.pipeline.parts`)."""


def variant_config_parameters(path: Path) -> list[str]:
    """``function(parameter)`` of every function in ``path`` with a parameter annotated
    ``VariantConfig`` (also inside ``Sequence[...]``, ``| None`` or a string)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        args = node.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.annotation is not None and \
                    "VariantConfig" in ast.unparse(arg.annotation):
                found.append(f"{node.name}({arg.arg})")
    return found


def test_below_the_driver_no_function_takes_a_whole_variant_config():
    """Each stage takes the parts it uses (built components and its own settings), not the
    whole variant: ``run_variant`` builds them once and calls each stage's entry point."""
    offenders = []
    for path in sorted((REPO / "kara_core" / "pipeline").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative in DRIVER and DRIVER[relative] is None:
            continue
        exempt = DRIVER.get(relative) or set()
        offenders += [f"{relative}: {found}" for found in variant_config_parameters(path)
                      if found.split("(")[0] not in exempt]
    assert offenders == []


def test_the_variant_config_check_finds_a_parameter(tmp_path):
    """The rule above is not vacuous: it finds each way of annotating a parameter."""
    sample = tmp_path / "stage.py"
    sample.write_text(
        "def a(variant: VariantConfig) -> None: ...\n"
        "def b(*, variants: Sequence[VariantConfig]) -> None: ...\n"
        "def c(v: 'VariantConfig | None' = None) -> None: ...\n"
        "def d(settings: TrainSettings) -> VariantConfig: ...\n", encoding="utf-8")
    assert variant_config_parameters(sample) == ["a(variant)", "b(variants)", "c(v)"]


def test_no_import_cycle_in_the_core_or_the_plugins():
    """Modules import each other in one direction only, in the core and in every built-in
    plugin: a newcomer can read the stages in order (grimp is the graph library behind
    import-linter)."""
    import grimp

    graph = grimp.build_graph("kara_core", *sorted(PLUGIN_PACKAGES))
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != module and graph.chain_exists(imported, module, as_packages=False):
                cycles.append(f"{module} <-> {imported}")
    assert cycles == []


def test_modules_stay_small_and_folders_stay_readable():
    """Modules under 400 lines, one job each; at most 12 modules a folder (DESIGN section 8)."""
    long_modules, crowded = [], []
    for folder in ("kara_core", "plugins"):
        for path in (REPO / folder).rglob("*.py"):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > 400:
                long_modules.append(f"{path.relative_to(REPO)}: {lines}")
        for package in [REPO / folder, *(p for p in (REPO / folder).rglob("*") if p.is_dir())]:
            modules = [p for p in package.glob("*.py") if p.name != "__init__.py"]
            if len(modules) > 12:
                crowded.append(f"{package.relative_to(REPO)}: {len(modules)}")
    assert long_modules == [] and crowded == []
