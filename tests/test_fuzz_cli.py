"""Fuzz the CLI flags (issue 14): random argv for ``coldkit recommend``, ``evaluate`` and ``serve --build``.

Asserted for every argv: exit status 0 or 2, never a traceback (no exception escapes ``main``,
none printed), the input files unchanged, and after a failure any pre-existing output unchanged
and no new output left behind. In-process on tiny files; CI-lean (a few dozen runs per command).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coldkit.cli import main

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
WEIRD = ["", " ", "-1", "0", "1", "3", "1000000000000", "1.5", "nan", "inf", "x", "\udcff", "--", "=", "{}", "[1]"]


def fingerprint(path: Path) -> dict[str, str] | str | None:
    """What is at ``path``: None, a file's SHA-256, or a directory's {relative path: SHA-256}."""
    if path.is_symlink():
        return f"link->{path.readlink()}"
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
                for p in sorted(path.rglob("*"))}
    return "other" if path.exists() else None


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


def check_run(argv: list[str], inputs: list[Path], out: Path) -> int:
    before_inputs = [fingerprint(p) for p in inputs]
    before_out = fingerprint(out)
    code, err = run(argv)
    assert code in (0, 2), f"exit {code} for {argv}: {err[-1500:]}"
    assert "Traceback" not in err, f"traceback for {argv}: {err[-1500:]}"
    assert [fingerprint(p) for p in inputs] == before_inputs, f"an input file changed: {argv}"
    if code != 0:
        assert fingerprint(out) == before_out, f"failed but touched the output: {argv}: {err[-500:]}"
    return code


@pytest.fixture()
def workdir(tmp_path: Path, tiny_files) -> Path:
    interactions, items = tiny_files
    shutil.copy(interactions, tmp_path / "interactions.csv")
    shutil.copy(items, tmp_path / "items.csv")
    (tmp_path / "users.txt").write_text("u1\nu2\nnobody\n")
    (tmp_path / "candidates.txt").write_text("i1\ni2\ni29\n")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "empty.csv").write_text("")
    return tmp_path


def _outputs(root: Path) -> st.SearchStrategy:
    """An --out target and how to prepare it (new, an existing file, a directory, a link, a device)."""
    return st.sampled_from(["new", "existing", "directory", "link", "device"])


def _prepare(root: Path, kind: str, name: str) -> Path:
    out = root / name  # the work folder is shared by a test's examples: start each from a clean slate
    if out.is_symlink() or out.is_file():
        out.unlink()
    elif out.is_dir():
        shutil.rmtree(out)
    if kind == "existing":
        out.write_text("previous results\n")
    elif kind == "directory":
        out.mkdir(exist_ok=True)
    elif kind == "link":
        (root / "victim.txt").write_text("keep me\n")
        out.symlink_to(root / "victim.txt")
    elif kind == "device":
        return Path("/dev/null")
    return out


def _file_arg(root: Path) -> st.SearchStrategy:
    return st.sampled_from(["interactions.csv", "items.csv", "users.txt", "candidates.txt", "a-dir", "empty.csv",
                            "missing.csv"]).map(lambda name: str(root / name))


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_recommend_flags(workdir: Path, data: st.DataObject) -> None:
    flags = {
        "--k": st.one_of(st.sampled_from(WEIRD), st.integers(-3, 10**13).map(str)),
        "--model": st.sampled_from(["popularity", "item-knn", "content", "random", "nope", ""]),
        "--option": st.sampled_from(["alpha=0.5", "nope=1", "x", "=1", "seed=abc", "neighbors=-3"]),
        "--encoder": st.sampled_from(["hashing", "nope"]),  # not "": the default may be a real BERT (slow)
        "--duplicates": st.sampled_from(["error", "last", "sum", "max", "bogus"]),
        "--encoding": st.sampled_from(["utf-8", "latin-1", "bogus", ""]),
        "--implicit-threshold": st.sampled_from(WEIRD),
        "--users": _file_arg(workdir),
        "--candidates": _file_arg(workdir),
        "--text-columns": st.sampled_from(["title", "genres", "nope", ""]),
        "--interaction-columns": st.sampled_from(["user_id=user_id", "item_id=nope", "bogus"]),
    }
    chosen = data.draw(st.lists(st.sampled_from(sorted(flags)), unique=True, max_size=4), label="flags")
    argv = ["recommend", "--no-progress"]
    interactions = data.draw(st.sampled_from(["interactions.csv"] * 4 + ["items.csv", "missing.csv"]), label="interactions")
    argv += ["--interactions", str(workdir / interactions), "--items", str(workdir / "items.csv")]
    for flag in chosen:
        argv += [flag, data.draw(flags[flag], label=flag)]
    if "--model" not in chosen:
        argv += ["--model", "popularity"]
    out = _prepare(workdir, data.draw(_outputs(workdir), label="out"), "recs.csv")
    if data.draw(st.integers(0, 5), label="with --out") > 0:
        argv += ["--out", str(out)]
    inputs = [workdir / n for n in ("interactions.csv", "items.csv", "users.txt", "candidates.txt", "empty.csv")]
    if check_run(argv, inputs, out) == 0:
        assert out.is_file() and out.read_text().startswith("user_id,item_id,rank,score")


@settings(FUZZ, max_examples=12)
@given(data=st.data())
def test_evaluate_flags(workdir: Path, data: st.DataObject) -> None:
    flags = {
        "--models": st.sampled_from(["popularity", "nope", "popularity:bogus=1", "popularity:", ":x"]),
        "--k": st.sampled_from(WEIRD),
        "--seeds": st.sampled_from(WEIRD),
        "--protocol": st.sampled_from(["cold-item", "warm", "bogus", ""]),
        "--data": st.sampled_from(["ml-latest-small", "nope", str(workdir / "a-dir"), str(workdir / "items.csv")]),
        "--reveal": st.sampled_from(WEIRD),
        "--implicit-threshold": st.sampled_from(WEIRD),
    }
    chosen = data.draw(st.lists(st.sampled_from(sorted(flags)), unique=True, max_size=2), label="flags")
    max_users = data.draw(st.sampled_from(["5"] * 4 + ["-1", "0", "x", "1.5"]), label="--max-users")
    argv = ["evaluate", "--no-progress", "--no-chart", "--max-users", max_users]
    for flag in chosen:
        argv += [flag, data.draw(flags[flag], label=flag)]
    if "--models" not in chosen:
        argv += ["--models", "popularity"]
    kind = data.draw(st.sampled_from(["new", "existing", "directory"]), label="out")
    out = _prepare(workdir, kind, "results")
    argv += ["--out", str(out)]
    check_run(argv, [workdir / "items.csv"], out)


@settings(FUZZ, max_examples=25)
@given(data=st.data())
def test_serve_build_flags(workdir: Path, data: st.DataObject) -> None:
    target = workdir / "index"
    state = data.draw(st.sampled_from(["new", "new", "index", "index", "file", "foreign"]), label="PATH")
    if state == "index" and not (target / "CURRENT").exists():
        assert run(["serve", str(target), "--build", "--interactions", str(workdir / "interactions.csv"),
                    "--items", str(workdir / "items.csv"), "--encoder", "hashing",
                    "--encoder-options", '{"dim": 64}'])[0] == 0
    elif state == "file":
        target = workdir / "index-file"
        target.write_text("not an index")
    elif state == "foreign":
        target = workdir / "foreign"
        target.mkdir(exist_ok=True)
        (target / "notes.txt").write_text("mine")
    elif state == "new":
        target = workdir / f"new-{data.draw(st.integers(0, 10**9), label='name')}"
    flags = {
        "--interactions": _file_arg(workdir),
        "--items": _file_arg(workdir),
        "--dataset": st.sampled_from(["nope", "ml-latest-small-missing"]),
        "--encoder": st.sampled_from(["hashing", "nope"]),  # not "": the default may be a real BERT (slow)
        "--encoder-options": st.sampled_from(['{"dim": 64}', "[1]", "{bad", '{"dim": -1}', '{"dim": "x"}',
                                              '{"nope": 1}', '{"dim": 1e400}', "null"]),
        "--fusion": st.sampled_from(["weighted", "nope"]),
        "--text-columns": st.sampled_from(["title", "nope", ""]),
    }
    chosen = data.draw(st.lists(st.sampled_from(sorted(flags)), unique=True, max_size=3), label="flags")
    argv = ["serve", str(target), "--build"]
    for name in ("--interactions", "--items"):
        if name not in chosen and "--dataset" not in chosen:
            argv += [name, str(workdir / f"{name[2:]}.csv")]
    for flag in chosen:
        argv += [flag, data.draw(flags[flag], label=flag)]
    if "--encoder" not in chosen:
        argv += ["--encoder", "hashing"]
    if data.draw(st.booleans(), label="--force"):
        argv.append("--force")
    check_run(argv, [workdir / "interactions.csv", workdir / "items.csv"], target)
