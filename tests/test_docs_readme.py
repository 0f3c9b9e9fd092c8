"""README.md's examples work as written: its Python blocks run and print what their comments say, and
every ``coldkit ...`` line of its shell blocks is accepted by the command-line parser.

The Python blocks run in a temporary directory, in this process, with the hashing encoder they name
(no model weights, well under a second each). The shell lines are only parsed (``build_parser``),
not run: they name files the reader brings (``train.csv``), and running them is the CLI tests' job;
what this catches is a renamed command, flag or choice that the README still shows.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldkit.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[str]:
    return [m["body"] for m in BLOCK.finditer(README.read_text(encoding="utf-8")) if m["lang"] == lang]


def python_block(marker: str) -> str:
    found = [body for body in blocks("python") if marker in body]
    assert len(found) == 1, f"README.md: expected one python block containing {marker!r}, found {len(found)}"
    return found[0]


def run_block(body: str, where: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.chdir(where)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(body, str(README), "exec"), namespace)  # noqa: S102 - the README's own code, as a reader runs it
    return namespace


def test_readme_has_only_the_python_blocks_checked_here() -> None:
    # a new block needs its own check below (what its comments promise), not just "it runs"
    assert len(blocks("python")) == 2


def test_pandas_example_ranks_the_never_rated_item_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_block(python_block("UserQuery(text="), tmp_path, monkeypatch)
    recs = ns["recs"]
    assert isinstance(recs, pd.DataFrame)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]  # "DataFrame: user_id, item_id, score, rank"
    assert recs["rank"].tolist() == [1, 2, 1, 2]  # k=2 for each of the two users
    # "m4, never rated, comes first for both"
    assert recs.loc[recs["rank"] == 1, "item_id"].tolist() == ["m4", "m4"]
    assert "m4" in capsys.readouterr().out  # print(recs) prints it


def test_quick_start_ranks_the_basketball_movie_first_for_user2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = run_block(python_block("coldkit.topk("), tmp_path, monkeypatch)
    indices = np.asarray(ns["indices"])
    assert indices.shape == (2, 2)
    assert indices[1, 0] == 2  # "user2's first item is item3, the basketball movie"
    # the same ranking from the vectors by numpy: rows are unit length, so the dot product is the cosine
    encoder, items, users = ns["encoder"], ns["items"], ns["users"]
    scores = encoder.encode_texts(users) @ encoder.encode_texts(items).T  # type: ignore[attr-defined]
    assert np.array_equal(indices[:, 0], np.argmax(scores, axis=1))


def readme_command_lines() -> list[str]:
    """Each ``coldkit ...`` command of the shell blocks, continuation lines joined, comments and env vars dropped."""
    lines: list[str] = []
    for body in blocks("bash"):
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # COLDKIT_TOKEN=... coldkit serve
                words.pop(0)
            if words[:1] == ["python"] and words[1:3] == ["-m", "coldkit"]:
                words = ["coldkit", *words[3:]]
            if words[:1] == ["coldkit"]:
                lines.append(shlex.join(words[1:]))
    return lines


def test_readme_command_lines_parse() -> None:
    lines = readme_command_lines()
    assert len(lines) >= 10  # the command-line section and the plugins section
    for line in lines:
        try:
            build_parser().parse_args(shlex.split(line))
        except SystemExit as exc:  # argparse's way of refusing (it prints the reason to stderr)
            pytest.fail(f"README.md: `coldkit {line}` is refused by the parser (exit {exc.code})")
