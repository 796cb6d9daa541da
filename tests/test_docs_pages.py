"""The README and the docs/ pages say only what is true of this checkout.

docs/plugins.md runs block by block (tests/test_docs_plugins.py); the other pages show
commands, kara.yaml keys, options, links and a layout that must exist, without running
long work:

* every command of a ``console`` block is checked: ``kara ...`` is parsed by kara's own
  argparse parser, ``make X`` must be a Makefile target, ``python benchmarks/B.py ...``
  must name options the benchmark's ``--help`` lists; any other command is an error;
* every inline ``kara <sub-command> [--option ...]`` names a real sub-command and real
  options of it; every inline ``dataset.X``, ``train.X``, ``generate.X`` is a real key;
* the kara.yaml of docs/reference.md loads, every key of it is in the config schema, and
  its option tables list exactly the installed components' options and defaults;
* every relative link and image of README.md and docs/*.md points at a file that exists,
  and at a heading of it when it names one;
* docs/architecture.md's layout tree is the tree of the modules (tests.support.layout);
* no file of the repository names an absolute path of a machine (see ``MACHINE_PATH``);
* the figures the README and docs/results.md, docs/scale.md quote from a benchmark record
  are that record's (``benchmarks/results/*.json``), and the README's are docs/results.md's.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from kara_core.cli import build_parser
from kara_core.config import COMPONENT_KEYS, TOP_LEVEL_KEYS, load_config
from kara_core.config.schema import DatasetConfig, GenerateConfig, TrainConfig
from kara_core.plugins import get_plugin_manager
from kara_core.registry import Registry
from tests.support.cli import REPO
from tests.support.doc_blocks import Block, parse_blocks
from tests.support.layout import PAGE as ARCHITECTURE
from tests.support.layout import layout_tree, tree_on_page

README = REPO / "README.md"
PAGES = [REPO / "docs" / name for name in (
    "guide.md", "reference.md", "results.md", "scale.md", "reliability.md",
    "architecture.md")]
SHOWN = [README, *PAGES]  # the pages whose commands and keys this module checks
LINKED = [README, *sorted((REPO / "docs").glob("*.md"))]  # every page whose links must resolve
REFERENCE = REPO / "docs" / "reference.md"
MAX_README_LINES = 250

SECTIONS: dict[str, type] = {"dataset": DatasetConfig, "train": TrainConfig,
                             "generate": GenerateConfig}
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")

# An absolute path of a machine: a user's home, the root account's, a work tree, or the
# shared folder of music this project was measured on. /tmp/... and /path/to/... are
# examples any machine has or no machine has; /usr/bin etc. are the system's.
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|root|home|Users)/|shared" + r"/music")


# -- helpers ---------------------------------------------------------------------------------
@cache
def parser() -> argparse.ArgumentParser:
    return build_parser()


def subcommands() -> dict[str, argparse.ArgumentParser]:
    for action in parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("kara's parser has no sub-commands")


def option_strings(command: argparse.ArgumentParser) -> set[str]:
    return set(command._option_string_actions)


@cache
def registry() -> Registry:
    return get_plugin_manager().registry


def blocks_of(page: Path) -> list[Block]:
    return parse_blocks(page.read_text(encoding="utf-8"))


def prose(text: str) -> str:
    """``text`` without its fenced blocks (links and inline code inside them are examples)."""
    kept, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        if not inside:
            kept.append(line)
    return "\n".join(kept)


def inline_code(page: Path) -> list[str]:
    return INLINE_CODE.findall(prose(page.read_text(encoding="utf-8")).replace("\n", " "))


def shown_commands() -> list[tuple[str, str]]:
    """(where, command) for every ``$ `` line of every console block of the pages."""
    found = []
    for page in SHOWN:
        for block in blocks_of(page):
            for offset, line in enumerate(block.lines, start=1):
                if line.startswith("$ "):
                    found.append((f"{page.relative_to(REPO)}:{block.line + offset}", line[2:]))
    return found


# -- blocks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", SHOWN, ids=lambda p: p.name)
def test_every_block_is_a_kind_this_test_checks(page):
    """console blocks are checked, yaml blocks parsed, text blocks are output: nothing else
    may hide on a page (a ``bash`` block would go unchecked)."""
    for block in blocks_of(page):
        assert block.lang in ("console", "yaml", "text"), (
            f"{page.name}:{block.line}: a {block.lang or 'untagged'} block; use console "
            "($ lines are commands), yaml or text"
        )
        if block.lang == "yaml":  # a kara.yaml or part of one: every key a real one
            data = yaml.safe_load(block.text)
            assert isinstance(data, dict), f"{page.name}:{block.line}"
            assert unknown_keys(data) == [], f"{page.name}:{block.line}"
        if block.lang == "console":
            assert any(line.startswith("$ ") for line in block.lines), (
                f"{page.name}:{block.line}: a console block without a '$ ' command")


def test_the_pages_show_commands_to_check():
    kinds = {shlex.split(command)[0] for _where, command in shown_commands()}
    assert {"kara", "make"} <= kinds and len(shown_commands()) >= 10


@pytest.mark.parametrize(("where", "command"), shown_commands(), ids=lambda v: v)
def test_every_command_shown_is_real(where, command):
    argv = shlex.split(command)
    if argv[:3] == ["nice", "-n", "19"]:
        argv = argv[3:]
    if argv[0] == "kara":
        check_kara_command(where, argv[1:])
    elif argv[0] == "make":
        targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M)
        assert len(argv) == 2 and argv[1] in targets, f"{where}: no make target {argv[1:]}"
    elif argv[0] == ".venv/bin/python" and argv[1].startswith("benchmarks/"):
        check_benchmark(where, argv[1], argv[2:])
    else:
        raise AssertionError(f"{where}: '{command}' is no command this test knows how to "
                             "check (kara, make, .venv/bin/python benchmarks/...)")


def check_kara_command(where: str, args: list[str]) -> None:
    """Parse ``args`` as kara would, without running anything."""
    try:
        parser().parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"{where}: kara does not accept 'kara {shlex.join(args)}'") from exc


def check_benchmark(where: str, script: str, args: list[str]) -> None:
    path = REPO / script
    assert path.is_file(), f"{where}: {script} does not exist"
    result = subprocess.run([sys.executable, str(path), "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{where}: {script} --help failed:\n{result.stderr}"
    for option in (a for a in args if a.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), (
            f"{where}: {script} has no option {option}")


def test_a_wrong_command_is_caught():
    with pytest.raises(AssertionError, match="does not accept"):
        check_kara_command("page:1", ["run", "kara.yaml", "--varaint", "base"])
    with pytest.raises(AssertionError, match="does not accept"):
        check_kara_command("page:1", ["trian", "kara.yaml"])
    with pytest.raises(AssertionError, match="has no option --hourz"):
        check_benchmark("page:1", "benchmarks/bench_scale.py", ["--hourz", "10"])


# -- inline commands and keys -------------------------------------------------------------------
def inline_commands() -> list[tuple[str, str]]:
    found = []
    for page in SHOWN:
        for code in inline_code(page):
            if re.match(r"kara (?:[a-z]|--)", code):
                found.append((page.name, code))
    return found


def test_every_inline_kara_command_names_real_sub_commands_and_options():
    """``kara train kara.yaml [--epochs N]`` in prose: the sub-command and each option are
    kara's (placeholders and brackets are usage syntax, so the line is not parsed whole)."""
    commands, problems = subcommands(), []
    global_options = option_strings(parser())
    for page, code in inline_commands():
        words = code.split()[1:]
        if words[0].startswith("-"):
            known = global_options
        elif words[0] in commands:
            known = option_strings(commands[words[0]]) | global_options
        else:
            problems.append(f"{page}: `{code}`: no sub-command {words[0]!r}")
            continue
        for option in re.findall(r"(?<![\w-])--?[a-z][\w-]*", " ".join(words)):
            if option not in known:
                problems.append(f"{page}: `{code}`: {option} is not an option of it")
        if not re.search(r"[\[\]|]|\.\.\.|\b[A-Z_]{2,}\b", code) and any(
                not word.startswith("-") for word in words[1:]):
            try:  # a whole command line, no usage syntax: it must parse
                check_kara_command(page, words)
            except AssertionError as exc:
                problems.append(str(exc))
    assert len(inline_commands()) >= 20
    assert problems == []


def test_the_guide_lists_every_sub_command_with_all_its_options():
    """The guide's command table is complete: a row per sub-command, naming each option
    (one of an option's aliases is enough)."""
    rows = {}
    for line in (REPO / "docs" / "guide.md").read_text(encoding="utf-8").splitlines():
        row = re.match(r"\| `kara (\w+)([^|]*)` \|", line)
        if row:
            rows[row.group(1)] = row.group(2)
    missing = []
    for name, command in subcommands().items():
        if name not in rows:
            missing.append(f"kara {name}")
            continue
        shown = set(re.findall(r"--[\w-]+", rows[name]))
        for action in command._actions:
            longs = {o for o in action.option_strings if o.startswith("--")} - {"--help"}
            if longs and not longs & shown:
                missing.append(f"kara {name} {sorted(longs)[0]}")
    assert missing == [], "docs/guide.md's command table leaves these out"


def test_every_dotted_key_in_prose_exists():
    """``train.judge_seconds``, ``dataset.mp3_dir`` ...: each names a real key."""
    problems, seen = [], 0
    for page in SHOWN:
        for code in inline_code(page):
            for section, key in re.findall(r"(?<![\w./])(dataset|train|generate)\.(\w+)", code):
                if key == "py":  # a module (train.py), not a key
                    continue
                seen += 1
                fields = {f.name for f in dataclasses.fields(SECTIONS[section])}
                if key not in fields:
                    problems.append(f"{page.name}: `{code}`: {section}.{key} is no key")
    assert seen >= 10 and problems == []


REPO_PATH = re.compile(r"(?:kara_core|plugins|benchmarks|tests|scripts|docs|examples|dataset)/"
                       r"[^\s*<>{}]*$")


def test_every_file_the_pages_name_exists():
    """An inline path of the repository (`kara_core/pipeline/cost/figures.py`,
    `benchmarks/results/music.json`) names a file or folder that exists; patterns with
    ``*`` or ``<placeholder>`` are examples."""
    missing, seen = [], 0
    for page in SHOWN:
        for code in inline_code(page):
            for word in code.split():
                if REPO_PATH.match(word):
                    seen += 1
                    if not (REPO / word.rstrip(".,;:")).exists():
                        missing.append(f"{page.name}: {word}")
    assert seen >= 20 and missing == []


# -- docs/reference.md -------------------------------------------------------------------------
def reference_yaml() -> Block:
    yamls = [b for b in blocks_of(REFERENCE) if b.lang == "yaml"]
    assert yamls, "docs/reference.md shows no kara.yaml"
    return yamls[0]


def unknown_keys(data: dict[str, Any], where: str = "") -> list[str]:
    """Keys of a kara.yaml mapping that the schema or the named components do not have."""
    problems = []
    for key, value in data.items():
        path = f"{where}{key}"
        if key not in TOP_LEVEL_KEYS:
            problems.append(f"{path}: not a kara.yaml key")
        elif key in SECTIONS:
            fields = {f.name for f in dataclasses.fields(SECTIONS[key])}
            problems += [f"{path}.{k}: no such key" for k in value if k not in fields]
        elif key in COMPONENT_KEYS:
            allowed = {"type", "options"} | ({"fallback"} if key == "decoder" else set())
            problems += [f"{path}.{k}: no such key" for k in value if k not in allowed]
            if "type" in value and isinstance(value.get("options"), dict):
                entry = registry().get(COMPONENT_KEYS[key], value["type"])
                fields = {f.name for f in dataclasses.fields(entry.cls.Options)}
                problems += [f"{path}.options.{k}: {value['type']} has no such option"
                             for k in value["options"] if k not in fields]
        elif key == "variants":
            for name, variant in value.items():
                problems += unknown_keys(variant, f"variants.{name}.")
    return problems


def test_every_key_of_the_reference_exists_in_the_schema(tmp_path):
    block = reference_yaml()
    data = yaml.safe_load(block.text)
    assert unknown_keys(data) == []
    shown = {f"{section}.{key}" for section in SECTIONS for key in data.get(section, {})}
    every = {f"{section}.{f.name}" for section, cls in SECTIONS.items()
             for f in dataclasses.fields(cls)}
    assert every - shown == set(), "keys of the schema docs/reference.md leaves out"
    config = tmp_path / "kara.yaml"
    config.write_text(block.text, encoding="utf-8")
    experiment = load_config(config, registry())  # every value valid, too
    assert [v.name for v in experiment.variants] == ["base", *data["variants"]]


def test_a_key_the_schema_lacks_is_caught():
    assert unknown_keys({"train": {"stepz": 1}, "colour": 1,
                         "variants": {"v": {"model": {"type": "lstm_lm",
                                                      "options": {"unitz": 3}}}}}) == [
        "train.stepz: no such key", "colour: not a kara.yaml key",
        "variants.v.model.options.unitz: lstm_lm has no such option"]


def shown_default(value: Any) -> str:
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def option_tables() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(kind, component) -> [(option, default)] as docs/reference.md's tables show them."""
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    current: tuple[str, str] | None = None
    for line in prose(REFERENCE.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"### (decoder|transform|model) `(\w+)` \((\w+)\)$", line)
        if heading:
            kind, name, plugin = heading.groups()
            entry = registry().get(kind + "s", name)
            assert entry.plugin == plugin, f"{name} is registered by {entry.plugin}"
            current = (kind + "s", name)
            tables[current] = []
        elif current and (row := re.match(r"\| `(\w+)` \| `([^`]*)` \|", line)):
            tables[current].append((row.group(1), row.group(2)))
    return tables


def test_the_option_tables_list_every_installed_component_and_its_options():
    tables = option_tables()
    installed = {(e.kind, e.name) for e in registry() if e.kind in COMPONENT_KEYS.values()
                 and e.plugin.startswith("kara_")}
    assert installed <= set(tables), f"components without a table: {installed - set(tables)}"
    for (kind, name), rows in tables.items():
        options = registry().get(kind, name).cls.Options
        real = [(f.name, shown_default(f.default)) for f in dataclasses.fields(options)]
        assert rows == real, f"docs/reference.md's table of {name} differs from its Options"


# -- links ---------------------------------------------------------------------------------------
def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in prose(page.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6} (.+)$", line)
        if heading:
            base = slug(heading.group(1))
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def broken_links(page: Path) -> list[str]:
    problems = []
    text = prose(page.read_text(encoding="utf-8"))
    text = INLINE_CODE.sub("", text.replace("\n", " "))
    for _label, target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {path.name}")
    return problems


@pytest.mark.parametrize("page", LINKED, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## The `kara run` command\n")
    page.write_text("[a](other.md#the-kara-run-command) [b](missing.md) "
                    "[c](other.md#nowhere) [d](https://example.org/x) `[e](nowhere.md)`\n")
    assert broken_links(page) == ["page.md: missing.md: no such file",
                                  "page.md: other.md#nowhere: no heading #nowhere in other.md"]


# -- the README and the layout -------------------------------------------------------------------
def test_the_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    for page in PAGES:
        assert f"(docs/{page.name})" in text, f"the README does not link {page.name}"
    picture = REPO / "docs" / "img" / "report.png"
    assert "(docs/img/report.png)" in text and picture.stat().st_size < 300_000


def test_the_default_model_is_described_as_it_is():
    """The README, ``kara --help`` and the package metadata name the default model, the
    frame language model, not the original project's seq2seq."""
    import tomllib

    default = registry().default("models")
    assert default.name == "lstm_lm"
    intro = README.read_text(encoding="utf-8").split("## ")[0]
    assert "default model is `lstm_lm`, a frame language model" in intro
    assert "mixture of 8 Gaussians" in intro
    description = parser().description or ""
    metadata = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["description"]
    for text in (description, metadata):
        assert "seq2seq" not in text and "frame language model" in text


def test_the_layout_tree_lists_every_module():
    shown = tree_on_page(ARCHITECTURE.read_text(encoding="utf-8"))
    assert shown == layout_tree(), (
        "docs/architecture.md's layout tree differs from the modules; run "
        "'.venv/bin/python -m tests.support.layout' to write it again")


# -- no machine paths ----------------------------------------------------------------------------
def repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    return [REPO / name for name in listed.stdout.splitlines() if (REPO / name).is_file()]


def machine_paths(text: str) -> list[str]:
    return [text[max(0, m.start() - 30):m.end() + 30].replace("\n", " ")
            for m in MACHINE_PATH.finditer(text)]


def test_no_file_names_an_absolute_path_of_a_machine():
    hits, checked = [], 0
    for path in repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary: images, mp3s
        checked += 1
        hits += [f"{path.relative_to(REPO)}: ...{hit}..." for hit in machine_paths(text)]
    assert checked > 100
    assert hits == []


@pytest.mark.parametrize(("text", "caught"), [
    ("music in /ho" "me/alice/music", True),
    ("cd /wo" "rk/main && make", True),
    ("/ro" "ot/.cache/pip", True),
    ("'/Us" "ers/bob/Music'", True),
    ("the shared" "/music folder", True),
    ("--work /tmp/kara-scale", False),
    ("bench_scale.py /path/to/music", False),
    ("/usr/bin/lame and ~/music and runs/demo/base/report.html", False),
    ("dataset/home/x.mp3 and kara_core/pipeline/work/", False),
])
def test_the_machine_path_rule(text, caught):
    assert bool(machine_paths(text)) == caught


# -- figures ---------------------------------------------------------------------------------------
def table_rows(page: Path, first_header: str) -> dict[str, dict[str, str]]:
    """The rows of the first table of ``page`` whose header starts with ``first_header``,
    by variant (links and bold removed), each a mapping header -> cell."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    headers = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", c).replace("**", "").strip()
                 for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(headers, cells, strict=True))
    return rows


def test_the_readme_quotes_the_results_as_docs_results_has_them():
    front = table_rows(README, "variant")
    full = table_rows(REPO / "docs" / "results.md", "variant")
    assert len(front) >= 4
    for variant, row in front.items():
        assert variant in full, f"README's row {variant} is not in docs/results.md"
        for column in ("fd_ratio", "spread", "loop", "targets", "training"):
            readme_column = next(h for h in row if h.startswith(column))
            assert row[readme_column] == full[variant][column], (variant, column)


def test_the_rows_from_bench_music_are_its_record():
    """docs/results.md says the base, no_recall and per-band rows come from bench_music.py:
    they are its records (music.json: the base with the replay; music-no-replay.json: with
    recall, before the replay; music-no-recall.json: before recall), rounded as the table
    rounds."""
    import json

    def record(name: str) -> dict:
        return json.loads((REPO / "benchmarks" / "results" / name).read_text())

    rows = table_rows(REPO / "docs" / "results.md", "variant")
    for variant, name, head in (("base", "music.json", "mixture"),
                                ("no_replay", "music-no-replay.json", "mixture"),
                                ("no_recall", "music-no-recall.json", "mixture"),
                                ("per-band noise", "music-no-recall.json", "mixture/features")):
        measured = record(name)["heads"][head]["at_default_budget"]
        row = rows[variant]
        for column, digits in (("fd_ratio", 2), ("spread", 2), ("loop", 2), ("level dB", 1)):
            key = column.split()[0] + ("_db" if column == "level dB" else "")
            median, worst = measured[f"{key}_median"], measured[f"{key}_worst"]
            assert row[column] == f"{median:.{digits}f} ({worst:.{digits}f})", (variant, column)
        assert row["training"] == f"{measured['train_minutes']:.1f} min", variant
        assert f"{measured['heldout_score']['gain']:+.1f} bits/frame" in (
            REPO / "docs" / "results.md").read_text(encoding="utf-8")


def test_the_ten_hours_table_is_its_record():
    """docs/scale.md's table of ten hours is benchmarks/results/scale-ten-hours.json."""
    import json

    stages = json.loads((REPO / "benchmarks" / "results" / "scale-ten-hours.json")
                        .read_text())["stages"]
    rows = table_rows(REPO / "docs" / "scale.md", "stage")
    assert len(rows) == 4
    for label, row in rows.items():
        stage = label.split()[0].rstrip(",")  # "train, 150 steps" -> train
        small, large = stages[f"{stage}_1x"], stages[f"{stage}_10x"]
        assert row["1x (1.0 h)"] == f"{small['wall_s']:.1f} s", label
        assert row["10x (10.0 h)"] == f"{large['wall_s']:.1f} s", label
        anon = f"{small['peak_anon_mb']:.0f} -> {large['peak_anon_mb']:.0f} MB"
        assert row["peak anonymous RSS 1x -> 10x"].startswith(anon), label
        hwm = f"{small['peak_rss_mb']:.0f} -> {large['peak_rss_mb']:.0f} MB"
        assert row["VmHWM 1x -> 10x"] == hwm, label
