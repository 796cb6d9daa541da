"""Run the fenced code blocks of a Markdown page, in order, the way docs/plugins.md says.

The kinds of block (docs/plugins.md, section 7, is the user-facing statement of the rules):

* a block whose first line is ``# <relative path>`` is a file of the walk-through project:
  it is written there (a later block of the same path replaces it);
* a ``diff`` block edits the file of its ``---`` line, hunk by hunk (``@@`` lines);
* a ``console`` block is run: ``$ `` lines are commands (``pip install [-e] .``, ``pytest``,
  ``kara``), every other line is output that must appear (``...`` matches anything);
* a ``text`` block is the project's layout: each file it lists must exist at the end;
* a ``python`` block whose first line is ``# contract: kara_core.X`` must match the class;
* any other ``python`` block is executed in a namespace shared by its ``##`` section, and
  the hook implementations it defines are called;
* ``toml`` and ``yaml`` blocks without a path are parsed.

Anything else is an error, so no block goes untested. A block that fails raises
:class:`BlockError` naming its line in the page.

``pip install`` never touches the environment running the tests: the project is installed
with ``pip install --target`` into a private folder (the wheel's ``.dist-info`` gives Kara
the entry point, distribution and version); ``-e`` then removes the installed copy of the
package and puts the project folder on the path instead, which is what an editable install
amounts to (edits are live, the metadata changes only when pip runs again).
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import run_kara

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the parser pip itself uses
    from pip._vendor import tomli as tomllib

FENCE = re.compile(r"^(\s*)```(.*)$")
PATH_HEADER = re.compile(r"^# ((?:[\w.-]+/)*[\w.-]+\.(?:py|toml|yaml|yml|cfg|txt|md))$")
CONTRACT_HEADER = re.compile(r"^# contract: (kara_core(?:\.\w+)*)\.(\w+)\s*$")
BOX = re.compile(r"[│┃┏┓┗┛━─┡┩╇┳┻┴┬└┘╭╮╰╯┼╋┣┫]")
HOOK_BASES = {"kara_register_decoders": "Decoder", "kara_register_transforms": "Transform",
              "kara_register_models": "Model"}
OUTPUT_TAIL = 3000


class BlockError(AssertionError):
    """A block of the page failed; the message starts with ``<page>:<line>``."""


@dataclass
class Block:
    """One fenced block: its info string, its text and where it starts in the page."""

    lang: str
    lines: list[str]
    line: int  # 1-based line number of the opening fence
    section: str

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    @property
    def first(self) -> str:
        return self.lines[0] if self.lines else ""


def parse_blocks(markdown: str) -> list[Block]:
    """Every fenced block of ``markdown``; an unclosed or indented fence is an error."""
    blocks: list[Block] = []
    section = ""
    current: Block | None = None
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(line)
        if current is not None:
            if fence and not fence.group(2).strip():
                blocks.append(current)
                current = None
            else:
                current.lines.append(line)
            continue
        if fence:
            if fence.group(1):
                raise BlockError(f"line {number}: an indented fence (blocks must start at "
                                 "column 0 so every one of them is found and run)")
            current = Block(fence.group(2).strip(), [], number, section)
        elif line.startswith("## "):
            section = line[3:].strip()
    if current is not None:
        raise BlockError(f"line {current.line}: the block is never closed")
    return blocks


def normalise(text: str) -> str:
    """Table borders and runs of white space do not count when output is compared."""
    return " ".join(BOX.sub(" ", text).split())


def expected_pattern(line: str) -> re.Pattern[str]:
    """An expected output line as a pattern: ``...`` matches anything."""
    parts = [re.escape(part.strip()) for part in normalise(line).split("...")]
    return re.compile(r"\s*.*?\s*".join(parts))


@dataclass
class Walkthrough:
    """The state the page's blocks share: the project folder, the current install and a
    namespace per section. ``prepare(project)`` runs once before the first command (the
    test supplies what the page asks the reader for, such as music)."""

    page: Path
    root: Path
    prepare: Callable[[Path], None] = lambda project: None
    project: Path = field(init=False)
    site: Path | None = None
    editable: bool = False
    installs: int = 0
    prepared: bool = False
    layouts: list[Block] = field(default_factory=list)
    sources: dict[str, list[int]] = field(default_factory=dict)
    """Each project file and the lines of the blocks that made its current content."""
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: list[tuple[int, str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.project = self.root / "project"
        self.project.mkdir(parents=True, exist_ok=True)

    # -- the page ---------------------------------------------------------------------------
    def run_page(self, blocks: list[Block] | None = None) -> None:
        """Run every block in order, then check the layout blocks; each failure names the
        line of its block."""
        import time

        blocks = parse_blocks(self.page.read_text(encoding="utf-8")) if blocks is None else blocks
        check_every_file_is_used(blocks, self.where)
        for block in blocks:
            start = time.perf_counter()
            with self.blame(block):
                self.run_block(block)
            self.timings.append((block.line, block.lang, time.perf_counter() - start))
        for block in self.layouts:
            with self.blame(block):
                self.check_layout(block)

    def where(self, block: Block) -> str:
        return f"{self.page.name}:{block.line}"

    def blame(self, block: Block) -> Any:
        page = self

        class Blame:
            def __enter__(self) -> None:
                return None

            def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
                if exc is None or isinstance(exc, BlockError | KeyboardInterrupt):
                    return False
                detail = "".join(traceback.format_exception(exc)[-12:])
                raise BlockError(f"{page.where(block)}: the {block.lang or 'untagged'} block "
                                 f"failed: {type(exc).__name__}: {exc}\n{detail}") from exc

        return Blame()

    def run_block(self, block: Block) -> None:
        path = PATH_HEADER.match(block.first)
        if path and block.lang in ("python", "toml", "yaml"):
            self.write_file(block, path.group(1))
        elif block.lang == "diff":
            self.apply_diff(block)
        elif block.lang == "console":
            self.run_console(block)
        elif block.lang == "text":
            self.layouts.append(block)
        elif block.lang == "python" and CONTRACT_HEADER.match(block.first):
            check_contract(block)
        elif block.lang == "python":
            self.run_python(block)
        elif block.lang == "toml":
            tomllib.loads(block.text)
        elif block.lang == "yaml":
            yaml.safe_load(block.text)
        else:
            raise BlockError(f"{self.where(block)}: a {block.lang or 'untagged'!s} block is "
                             "not a kind this page's test runs (see section 7 of the page)")

    # -- files ------------------------------------------------------------------------------
    def target(self, relative: str) -> Path:
        path = (self.project / relative).resolve()
        assert path.is_relative_to(self.project.resolve()), f"{relative} leaves the project"
        return path

    def write_file(self, block: Block, relative: str) -> None:
        if relative.endswith(".py"):
            compile("\n" * block.line + block.text, str(self.page), "exec")
        elif relative.endswith(".toml"):
            tomllib.loads(block.text)
        elif relative.endswith((".yaml", ".yml")):
            yaml.safe_load(block.text)
        path = self.target(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text, encoding="utf-8")
        self.sources[relative] = [block.line]

    def apply_diff(self, block: Block) -> None:
        lines = block.lines
        assert len(lines) >= 3 and lines[0].startswith("--- ") and lines[1].startswith("+++ "), (
            "a diff starts with '--- path' and '+++ path'"
        )
        relative = lines[0][4:].strip()
        assert lines[1][4:].strip() == relative, "--- and +++ name different files"
        path = self.target(relative)
        text = path.read_text(encoding="utf-8")
        hunks: list[list[str]] = []
        for line in lines[2:]:
            if line.startswith("@@"):
                hunks.append([])
            elif not hunks:
                raise AssertionError(f"{line!r} comes before the first '@@'")
            else:
                hunks[-1].append(line)
        assert hunks, "a diff without hunks changes nothing"
        for hunk in hunks:
            old, new = [], []
            for line in hunk:
                mark, rest = (line[:1], line[1:]) if line else (" ", "")
                assert mark in " -+", f"a hunk line must start with ' ', '-' or '+': {line!r}"
                if mark in " -":
                    old.append(rest)
                if mark in " +":
                    new.append(rest)
            before, after = "\n".join(old) + "\n", "\n".join(new) + "\n"
            found = text.count(before)
            assert found == 1, (
                f"{relative}: the hunk's old lines occur {found} times, expected once:\n{before}"
            )
            text = text.replace(before, after)
        if relative.endswith(".py"):
            compile(text, relative, "exec")
        path.write_text(text, encoding="utf-8")
        self.sources.setdefault(relative, []).append(block.line)

    def check_layout(self, block: Block) -> None:
        for line in block.lines[1:]:
            if line.strip():
                relative = line.split()[0]
                assert self.target(relative).exists(), (
                    f"the layout lists {relative}, which the walk-through never wrote"
                )

    # -- commands ---------------------------------------------------------------------------
    def python_path(self) -> list[str]:
        if self.site is None:
            return []
        return [str(self.site)] + ([str(self.project)] if self.editable else [])

    def run_console(self, block: Block) -> None:
        if not self.prepared:
            self.prepare(self.project)
            self.prepared = True
        commands: list[tuple[str, list[str]]] = []
        for line in block.lines:
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif line.strip():
                assert commands, f"output {line!r} before any '$ ' command"
                commands[-1][1].append(line)
        assert commands, "a console block runs at least one command"
        for command, expected in commands:
            try:
                output = self.run_command(command)
            except AssertionError as exc:
                if self.sources:  # the cause may be in a file block
                    made = ", ".join(f"{path} (line {', '.join(map(str, lines))})"
                                     for path, lines in sorted(self.sources.items()))
                    raise AssertionError(f"{exc}\nthe project's files come from the blocks of "
                                         f"{made}") from exc
                raise
            lines = [normalise(line) for line in output.splitlines()]
            for want in expected:
                pattern = expected_pattern(want)
                assert any(pattern.search(line) for line in lines), (
                    f"'$ {command}' did not print {want!r}; it printed:\n{output[-OUTPUT_TAIL:]}"
                )

    def run_command(self, command: str) -> str:
        argv = shlex.split(command)
        env = {"PYTHONPATH": os.pathsep.join(self.python_path()),
               "COLUMNS": "400"}  # long paths in notes stay on one line
        if argv[:2] == ["pip", "install"] and argv[2:] in (["-e", "."], ["."]):
            return self.install(editable=argv[2] == "-e")
        if argv[0] == "pytest":
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv[1:]],
                cwd=self.project, env={**os.environ, **env}, capture_output=True, text=True,
                timeout=600, check=False,
            )
        elif argv[0] == "kara":
            result = run_kara(*argv[1:], cwd=self.project, env=env)
        else:
            raise AssertionError(f"'$ {command}': the page's test runs only 'pip install -e .', "
                                 "'pip install .', 'pytest ...' and 'kara ...'")
        output = result.stdout + result.stderr
        assert result.returncode == 0, (
            f"'$ {command}' exited with {result.returncode}:\n{output[-OUTPUT_TAIL:]}"
        )
        return output

    def install(self, editable: bool) -> str:
        """``pip install [-e] .`` into a fresh private folder (see the module docstring)."""
        self.installs += 1
        site = self.root / f"site-{self.installs}"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--target", str(site), str(self.project)],
            capture_output=True, text=True, check=False, timeout=300,
        )
        for leftover in (self.project / "build", *self.project.glob("*.egg-info")):
            shutil.rmtree(leftover, ignore_errors=True)  # setuptools' in-tree build files
        assert result.returncode == 0, f"pip install failed:\n{result.stderr[-OUTPUT_TAIL:]}"
        if editable:
            for installed in site.iterdir():
                if (self.project / installed.name).is_dir() and installed.is_dir():
                    shutil.rmtree(installed)  # the project folder on the path replaces it
        self.site, self.editable = site, editable
        self.forget_modules()
        return result.stdout + result.stderr

    # -- python -----------------------------------------------------------------------------
    def forget_modules(self) -> None:
        """Drop modules imported from an earlier install, so the next import is fresh."""
        import importlib

        root = str(self.root.resolve())
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if origin and str(Path(origin).resolve()).startswith(root):
                del sys.modules[name]
        importlib.invalidate_caches()

    def run_python(self, block: Block) -> None:
        namespace = self.namespaces.setdefault(block.section, {"__name__": "__doc_block__"})
        code = compile("\n" * (block.line) + block.text, str(self.page), "exec")
        with self.import_path():
            exec(code, namespace)
            call_hooks(namespace)

    def import_path(self) -> Any:
        import contextlib
        import importlib

        @contextlib.contextmanager
        def path() -> Iterator[None]:
            added = self.python_path()
            sys.path[:0] = added
            importlib.invalidate_caches()
            try:
                yield
            finally:
                for entry in added:
                    sys.path.remove(entry)

        return path()


def check_every_file_is_used(blocks: list[Block], where: Callable[[Block], str]) -> None:
    """A file or diff block must be followed by a console block: otherwise nothing would
    ever run what it wrote."""
    last_console = max((i for i, b in enumerate(blocks) if b.lang == "console"), default=-1)
    for index, block in enumerate(blocks):
        writes = block.lang == "diff" or (
            block.lang in ("python", "toml", "yaml") and PATH_HEADER.match(block.first))
        if writes and index > last_console:
            raise BlockError(f"{where(block)}: no console block after this file runs it")


def call_hooks(namespace: dict[str, Any]) -> None:
    """Call each Kara hook implementation ``namespace`` defines; each must register at
    least one subclass of its contract."""
    import kara_core

    for hook, base_name in HOOK_BASES.items():
        function = namespace.get(hook)
        if function is None:
            continue
        assert hasattr(function, "kara_impl"), f"{hook} is not decorated with @hookimpl"
        registered: list[Any] = []
        function(registered.append)
        base = getattr(kara_core, base_name)
        assert registered, f"{hook} registered nothing"
        for cls in registered:
            assert isinstance(cls, type) and issubclass(cls, base), (
                f"{hook} registered {cls!r}, not a subclass of kara_core.{base_name}"
            )


# -- contract blocks ------------------------------------------------------------------------
def check_contract(block: Block) -> None:
    """The stub class of ``block`` against the class its header names."""
    import importlib

    header = CONTRACT_HEADER.match(block.first)
    assert header is not None
    real = getattr(importlib.import_module(header.group(1)), header.group(2))
    tree = ast.parse(block.text)
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert len(classes) == 1 and classes[0].name == real.__name__, (
        f"the block must define exactly the class {real.__name__}"
    )
    for node in classes[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            assert has_attribute(real, name), f"{real.__name__} has no attribute {name!r}"
        elif isinstance(node, ast.FunctionDef):
            check_method(real, node)
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            raise AssertionError(f"line {node.lineno} of the block: only attributes and "
                                 "methods can be checked")


def has_attribute(cls: type, name: str) -> bool:
    return (hasattr(cls, name) or name in getattr(cls, "__dataclass_fields__", {})
            or any(name in getattr(k, "__annotations__", {}) for k in cls.__mro__))


def check_method(real: type, node: ast.FunctionDef) -> None:
    name = node.name
    assert hasattr(real, name), f"{real.__name__} has no method {name!r}"
    static = inspect.getattr_static(real, name)
    assert not isinstance(static, property), (
        f"{real.__name__}.{name} is a property; show it as an attribute"
    )
    signature = inspect.signature(getattr(real, name))
    args = node.args
    shown = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    actual = list(signature.parameters)
    assert shown == actual, f"{real.__name__}.{name}: shown with {shown}, the code has {actual}"
    positional = [*args.posonlyargs, *args.args]
    defaults: dict[str, Any] = {}
    for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults,
                            strict=True):
        defaults[arg.arg] = ast.literal_eval(default)
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if kw_default is not None:
            defaults[arg.arg] = ast.literal_eval(kw_default)
    for parameter in signature.parameters.values():
        has_default = parameter.default is not inspect.Parameter.empty
        assert (parameter.name in defaults) == has_default, (
            f"{real.__name__}.{name}: parameter {parameter.name!r} "
            + ("has a default the page does not show" if has_default
               else "has no default in the code")
        )
        if has_default:
            assert defaults[parameter.name] == parameter.default, (
                f"{real.__name__}.{name}: {parameter.name}={defaults[parameter.name]!r} on the "
                f"page, {parameter.default!r} in the code"
            )
