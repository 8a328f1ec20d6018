"""The README cannot rot: every command in its ```bash blocks runs, in order, in a fresh folder.

Commands run as written, with small sizes appended (few draws, short chains) so the whole README
takes a minute or two; a command that exits non-zero fails the test with its stderr.  ``make``
lines are not run here: ``make test`` is what CI runs (this test is part of it) and ``make demo``
is ``simengine run``, which the README's own ``simengine run`` lines exercise.  The layout section
is checked against the tree: every path it names exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

#: Appended to each verb: small and fast, the same code path.
SMALL = {
    "run": ["sim.draws=24", "sim.progress=false"],
    "fit": ["fit.draws=60", "fit.tune=60", "fit.allow_bad=true", "sim.progress=false"],
    "backtest": [
        "sim.draws=24", "fit.draws=60", "fit.tune=60", "fit.allow_bad=true", "sim.progress=false",
    ],
}  # fmt: skip


def shell_blocks(text: str) -> list[str]:
    """Bodies of the fenced ```bash / ```sh / ```console blocks."""
    return re.findall(r"^```(?:bash|sh|console)\n(.*?)^```", text, flags=re.S | re.M)


def commands(text: str) -> list[str]:
    """Shell commands of the README, one per logical line (comments and prompts stripped); a
    here-document (``cat > FILE <<'EOF'`` ... ``EOF``) stays one command with its lines as written."""
    out = []
    for block in shell_blocks(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines = iter(joined.splitlines())
        for line in lines:
            here = re.search(r"<<\s*'?(\w+)'?\s*$", line)
            if here:
                body = []
                for next_line in lines:
                    if next_line.strip() == here.group(1):
                        break
                    body.append(next_line)
                out.append("\n".join([line, *body, here.group(1)]))
                continue
            line = re.sub(r"(^|\s)#.*$", "", line.removeprefix("$ ")).strip()
            if line:
                out.append(line)
    return out


def sized(command: str) -> str:
    """``command`` with the small sizes of its verb appended (fit.allow_bad for a short fit's
    posterior: its chains are too short for the gate, which is what the gate is for; without it
    ``simengine fit`` would exit 3)."""
    words = command.split()
    if words[0] != "simengine" or len(words) < 2 or words[1] not in SMALL:
        return command
    extra = list(SMALL[words[1]])
    if words[1] == "run" and any(w.startswith("fit.posterior=") for w in words):
        extra.append("fit.allow_bad=true")
    return f"{command} {' '.join(extra)}"


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first = shell_blocks(text)[0]
    assert "make demo" in first and "make test" in first


def layout_paths(block: str) -> list[Path]:
    """Paths the layout block names, resolved: a name on a line belongs to the folder that opens
    the line (or the last one opened, for a continuation line), else to the enclosing folder
    (``simengine/`` for indented lines), else to the top."""
    out = []
    top = folder = REPO
    for line in block.splitlines():
        indented = line.startswith("  ")
        parent = top if indented else REPO
        tokens = [t for t in re.split(r"[\s,;()]+", line) if t]
        if not tokens:
            continue
        if not indented and tokens[0].endswith("/"):
            top = REPO / tokens[0]
        opens = re.fullmatch(r"[\w-]+(/[\w-]+)*/", tokens[0]) is not None
        continuation = line.startswith(" " * 8)
        if opens:
            folder = parent / tokens[0]
        elif not continuation:
            folder = parent
        for k, token in enumerate(tokens):
            is_dir = re.fullmatch(r"[\w-]+(/[\w-]+)*/", token) is not None
            is_file = re.fullmatch(r"[\w.-]+\.(py|toml|md|yaml|nc|ipynb|txt)", token) is not None
            if not (is_dir or is_file or token == "Makefile"):
                continue
            base = parent if k == 0 and not continuation else folder
            out.append(base / token)
    return out


def test_layout_paths_exist():
    """Every path the README's layout section names exists in the tree."""
    text = README.read_text()
    layout = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```text\n(.*?)```", layout, flags=re.S).group(1)
    paths = layout_paths(block)
    assert len(paths) > 40, paths
    missing = [str(p.relative_to(REPO)) for p in paths if not p.exists()]
    assert not missing, f"README layout names paths that do not exist: {missing}"


@pytest.mark.slow
def test_readme_commands_run(tmp_path):
    lines = commands(README.read_text())
    assert len(lines) >= 8, lines
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("HYDRA_FULL_ERROR", None)
    ran = 0
    for line in lines:
        if line.startswith("make "):
            continue  # CI runs `make test`; `make demo` is `simengine run` (module docstring)
        done = subprocess.run(
            ["bash", "-c", sized(line)], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"README command failed: {line}\n{done.stderr[-3000:]}"
        ran += 1
    assert ran >= 8
    # The files the tours say these commands write.
    promised = [
        "multirun/fy27/sweep.nc", "multirun/fy27/0/forecast.nc", "multirun/fy27/1/signals.csv",
        "outputs/fy27_compare/comparison.csv", "outputs/mix/frontier.csv",
        "outputs/mix/frontier.png", "fits/mybook/posterior.nc", "outputs/mybook/forecast.nc",
        "multirun/fy27/report.html", "outputs/mybook/report.html", "plans/our_team.yaml",
        "multirun/hires/sweep.nc", "outputs/hires/comparison.csv", "outputs/our_mix/frontier.csv",
    ]  # fmt: skip
    missing = [p for p in promised if not (tmp_path / p).is_file()]
    assert not missing, f"README promises files its commands did not write: {missing}"
