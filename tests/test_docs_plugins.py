"""docs/plugins.md runs: every fenced block of it, top to bottom (rules: its section 7 and
:mod:`tests.support.doc_blocks`).

The walk-through writes a plugin package from the page's blocks, tests it with the kit,
installs it into a private folder (never into this environment), trains with it through
the ``kara`` CLI, upgrades it twice and checks that Kara says why it featurizes and trains
again. A block that breaks fails the test with its line in docs/plugins.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kara_core.testing import music_like_signal
from tests.support.audio import sf_mp3
from tests.support.cli import REPO
from tests.support.doc_blocks import BlockError, Walkthrough, parse_blocks

PAGE = REPO / "docs" / "plugins.md"
RATE = 8000


def three_songs(project: Path) -> None:
    """What the page asks the reader for: three short mp3s in ``mp3/``."""
    for number in range(3):
        wave = music_like_signal(4.0, RATE, seed=number)[:, None]
        sf_mp3(project / "mp3" / f"song{number}.mp3", wave, RATE)


def test_every_block_of_docs_plugins_md_runs(tmp_path, capsys):
    started = time.perf_counter()
    page = Walkthrough(PAGE, tmp_path, prepare=three_songs)
    try:
        page.run_page()
    finally:
        page.forget_modules()  # the plugin's modules leave with its temporary folders
    kinds = {lang for _line, lang, _seconds in page.timings}
    assert {"console", "diff", "python", "toml", "yaml", "text"} <= kinds
    with capsys.disabled():  # where the time goes, for whoever makes the page longer
        slowest = sorted(page.timings, key=lambda t: -t[2])[:3]
        print(f"\ndocs/plugins.md: {len(page.timings)} blocks in "
              f"{time.perf_counter() - started:.1f} s; slowest: "
              + ", ".join(f"line {line} ({lang}) {s:.1f} s" for line, lang, s in slowest))


def test_the_walkthrough_covers_what_the_issue_asks():
    """The page keeps documenting what plugin authors asked for (issue 12)."""
    text = PAGE.read_text(encoding="utf-8")
    for needle in ("FitResult(history=", "epochs_completed", "stopped_early", "on_batch_end",
                   "stop_requested", "initial_epoch", "resume_from", "load_state",
                   "`lossless`", "self.sample_rate", "cache_version", "registry_with",
                   "[project.entry-points.kara]", "stochastic", "[n_frames, D]",
                   "featurizing again", "training from scratch", "kara_register_measures",
                   "check_measure", "brightness_real"):
        assert needle in text, f"docs/plugins.md no longer mentions {needle}"


# -- the runner itself fails on a broken block, naming its line ------------------------------
def run_markdown(tmp_path: Path, markdown: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(markdown, encoding="utf-8")
    Walkthrough(page, tmp_path / "work").run_page()


@pytest.mark.parametrize(("markdown", "line", "message"), [
    ("intro\n\n```python\nx = 1\nassert x == 2\n```\n", 3, "AssertionError"),
    ("## a\n```python\nvalue = 1\n```\n## b\n```python\nprint(value)\n```\n", 6, "NameError"),
    ("```python\n# contract: kara_core.Transform\nclass Transform:\n"
     "    def inverse(self, frames, n): ...\n```\n", 1, "shown with ['self', 'frames', 'n']"),
    ("```python\n# contract: kara_core.Model\nclass Model:\n"
     "    def generate(self, prompt, n_frames, temperature=1.0, seed=0): ...\n```\n", 1,
     "temperature=1.0 on the page, 0.0 in the code"),
    ("```python\n# contract: kara_core.FitResult\nclass FitResult:\n    losses: list\n```\n", 1,
     "no attribute 'losses'"),
    ("```python\n# a.py\nx = 1\n```\n\n```diff\n--- a.py\n+++ a.py\n@@\n-x = 2\n+x = 3\n```\n"
     "```console\n$ kara --help\n```\n", 6, "occur 0 times"),
    ("```python\n# a.py\nx = (\n```\n```console\n$ kara --help\n```\n", 1, "SyntaxError"),
    ("```python\n# a.py\nx = 1\n```\n", 1, "no console block after this file"),
    ("```console\n$ kara --help\nthis line is not printed\n```\n", 1,
     "did not print 'this line is not printed'"),
    ("```console\n$ kara plugins --no-such-flag\n```\n", 1, "exited with 2"),
    ("```console\n$ rm -rf /\n```\n", 1, "runs only"),
    ("```sh\nkara --help\n```\n", 1, "not a kind this page's test runs"),
    ("```\nuntagged\n```\n", 1, "not a kind"),
    ("```yaml\na: [1\n```\n", 1, "yaml"),
    ("```text\nproject/\n  missing.py   never written\n```\n", 1, "never wrote"),
    ("```python\nfrom kara_core import hookimpl\n\n@hookimpl\n"
     "def kara_register_models(register):\n    register(int)\n```\n", 1,
     "not a subclass of kara_core.Model"),
    ("text\n  ```python\n  x = 1\n  ```\n", 2, "indented fence"),
])
def test_a_broken_block_fails_naming_its_line(tmp_path, markdown, line, message):
    with pytest.raises(BlockError) as failure:
        run_markdown(tmp_path, markdown)
    text = str(failure.value)
    assert f"line {line}" in text or f"page.md:{line}:" in text, text
    assert message in text, text


def test_console_output_ignores_table_borders_and_spacing():
    from tests.support.doc_blocks import expected_pattern, normalise

    row = "│ my_kara_plugin  │ my-kara-plugin │ 0.1.0   │     │ preemph  │ linear_ar │"
    assert expected_pattern("│ my_kara_plugin │ my-kara-plugin │ 0.1.0 │ ... │").search(
        normalise(row))
    assert not expected_pattern("my_kara_plugin my-kara-plugin 0.2.0").search(normalise(row))


def test_every_block_of_the_page_is_a_kind_the_runner_knows():
    blocks = parse_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 20
    known = {"python", "toml", "yaml", "diff", "console", "text"}
    unknown = [(b.line, b.lang) for b in blocks if b.lang not in known]
    assert unknown == [], f"blocks the doc test cannot run: {unknown}"
    assert all(b.lines for b in blocks), "an empty block"
