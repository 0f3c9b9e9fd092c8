"""Atomic writes leave no ``.tmp-*`` file and never a torn target, whatever ends them: an exception, Ctrl-C,
``sys.exit`` in the writer, SIGTERM in a plain Python script (Python's default ends the process on the spot:
the cleanup never ran), or a signal landing between the temp file's creation and the line that records its name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import pytest

import coldkit._atomic as atomic
from coldkit._atomic import atomic_write, atomic_write_bytes

OLD = b"previous content\n"

# a plain script (no coldkit CLI: SIGTERM keeps Python's default) whose write blocks once half of a large
# payload is in the temp file, after saying so: the parent signals it there, no guessed delay
_SCRIPT = """
import sys, time
from pathlib import Path

from coldkit._atomic import atomic_write

target, ready, how = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
payload = b"x" * (8 << 20)


def slow(handle):
    handle.write(payload[: len(payload) // 2])
    handle.flush()
    ready.write_text("writing", encoding="utf-8")
    time.sleep(300)  # the signal arrives here
    handle.write(payload[len(payload) // 2 :])


if how == "recommend_files":
    # the batch writer (coldkit recommend's library call): its atomic write, slowed the same way
    import coldkit._atomic as atomic
    from coldkit.batch import recommend_files

    real = atomic.atomic_write

    def blocking(path, write, **kw):
        def hold(handle):
            write(handle)
            handle.flush()
            ready.write_text("writing", encoding="utf-8")
            time.sleep(300)
        return real(path, hold, **kw)

    atomic.atomic_write = blocking
    folder = Path(sys.argv[4])
    recommend_files(str(folder / "int.csv"), str(folder / "items.csv"), str(target), model="popularity", progress=False)
else:
    atomic_write(target, slow)
print("finished")
"""


def _signal_mid_write(tmp_path: Path, how: str, signum: int) -> subprocess.CompletedProcess[str]:
    target = tmp_path / "out.csv"
    target.write_bytes(OLD)
    ready = tmp_path / "ready"
    script = tmp_path / "writer.py"
    script.write_text(_SCRIPT, encoding="utf-8")
    (tmp_path / "int.csv").write_text("user_id,item_id\nu1,i1\nu2,i2\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,a\ni2,b\ni3,c\n", encoding="utf-8")
    return _signal_when_ready([str(script), str(target), str(ready), how, str(tmp_path)], ready, tmp_path, signum)


def _signal_when_ready(argv: list[str], ready: Path, temps: Path, signum: int) -> subprocess.CompletedProcess[str]:
    """Run ``python argv`` (this interpreter, this import path), wait for it to write ``ready`` (its write is
    then under way: a ``.tmp-*`` in ``temps``), send ``signum``, and return what it did."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # the child starts with the stop signals at their defaults, as a script started from a terminal does: a test
    # run under nohup hands SIGHUP down ignored, and coldkit rightly keeps an ignored signal ignored
    proc = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_default_stop_signals if os.name == "posix" else None,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the write never started"
            time.sleep(0.05)
        assert list(temps.glob(".tmp-*")), "the write is under way, in a temp file or folder"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()  # reaps it and closes its pipes (left open, they were the next test's warnings)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _default_stop_signals() -> None:
    for signum in _ENDING_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


#: the signals whose default ends the process on the spot: SIGHUP is the terminal closing (where the platform has it)
_ENDING_SIGNALS = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])


@pytest.mark.parametrize("signum", _ENDING_SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("how", ["atomic_write", "recommend_files"])
def test_sigterm_in_a_plain_script_removes_the_temp_file_and_still_ends_the_process(tmp_path: Path, how: str, signum: int) -> None:
    done = _signal_mid_write(tmp_path, how, signum)
    # ended by that signal as before (the default action), not by an exception's exit status
    assert done.returncode == -signum, done.stderr
    assert "finished" not in done.stdout and "Traceback" not in done.stderr
    assert list(tmp_path.glob(".tmp-*")) == []
    assert (tmp_path / "out.csv").read_bytes() == OLD


def test_ctrl_c_in_a_plain_script_removes_the_temp_file(tmp_path: Path) -> None:
    done = _signal_mid_write(tmp_path, "atomic_write", signal.SIGINT)
    assert done.returncode == -signal.SIGINT and "KeyboardInterrupt" in done.stderr  # Python's own Ctrl-C, unchanged
    assert list(tmp_path.glob(".tmp-*")) == []
    assert (tmp_path / "out.csv").read_bytes() == OLD


class _Stop(BaseException):
    pass


def test_a_signal_right_after_the_temp_file_is_created_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the temp file was created before the try block that removes it: a signal raising in between (here:
    # at once, before mkstemp even returns its name) left it behind
    import tempfile

    real = tempfile.mkstemp

    def mkstemp_then_signal(*args: object, **kwargs: object) -> tuple[int, str]:
        made = real(*args, **kwargs)  # type: ignore[call-overload]
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs at the next bytecode boundaries, here
            pass
        return made  # type: ignore[no-any-return]

    def raise_stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    target = tmp_path / "out.bin"
    target.write_bytes(OLD)
    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_signal)
    previous = signal.signal(signal.SIGTERM, raise_stop)
    try:
        with pytest.raises(_Stop):
            atomic_write_bytes(target, b"new")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.glob(".tmp-*")) == []
    assert target.read_bytes() == OLD
    assert signal.getsignal(signal.SIGTERM) is previous


@pytest.mark.parametrize("stop", [SystemExit(3), KeyboardInterrupt(), ValueError("bad row")])
def test_any_exception_in_the_writer_leaves_the_old_file(tmp_path: Path, stop: BaseException) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(OLD)

    def half_then_stop(handle: object) -> None:
        handle.write(b"torn")  # type: ignore[attr-defined]
        raise stop

    with pytest.raises(type(stop)):
        atomic_write(target, half_then_stop)
    assert list(tmp_path.glob(".tmp-*")) == []
    assert target.read_bytes() == OLD
    # the handlers are the caller's again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


_SNAPSHOT_SCRIPT = """
import sys, time
from pathlib import Path

import coldkit.serving.storage as storage
from coldkit.serving import build_index_from_files

folder, ready = Path(sys.argv[1]), Path(sys.argv[2])


def hold():
    ready.write_text("writing", encoding="utf-8")
    time.sleep(300)  # the signal arrives here, with the snapshot's temp folder half written


storage._test_delay = hold
build_index_from_files(folder / "idx", interactions=folder / "int.csv", items=folder / "items.csv", encoder="hashing")
print("finished")
"""


@pytest.mark.parametrize("signum", _ENDING_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_sigterm_during_an_index_save_in_a_plain_script_removes_the_temp_folder(tmp_path: Path, signum: int) -> None:
    (tmp_path / "int.csv").write_text("user_id,item_id\nu1,i1\nu2,i2\n", encoding="utf-8")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,a space opera\ni2,a jazz record\n", encoding="utf-8")
    script, ready = tmp_path / "save.py", tmp_path / "ready"
    script.write_text(_SNAPSHOT_SCRIPT, encoding="utf-8")
    proc = _signal_when_ready([str(script), str(tmp_path), str(ready)], ready, tmp_path / "idx", signum)
    assert proc.returncode == -signum, proc.stderr
    assert "finished" not in proc.stdout
    assert list((tmp_path / "idx").glob(".tmp-*")) == []



def test_a_signal_during_a_temp_file_creation_that_fails_is_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # deferred inside a critical section, the signal was delivered only when the section ended without an
    # error: the writability probe's mkstemp failing there (a folder not writable, a full disk) dropped it
    # with the guard, and the stop asked for never came (atomic_write's cleanup section delivered it later)
    from coldkit._atomic import check_output_writable
    from coldkit.exceptions import InvalidInputError

    def mkstemp_signal_then_fail(*args: object, **kwargs: object) -> tuple[int, str]:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs at the next bytecode boundaries, here: deferred
            pass
        raise PermissionError(13, "Permission denied")

    def raise_stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_signal_then_fail)
    previous = signal.signal(signal.SIGTERM, raise_stop)
    try:
        with pytest.raises(_Stop) as stopped:
            check_output_writable(tmp_path / "out.bin")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert isinstance(stopped.value.__context__, InvalidInputError)  # the failure it interrupted stays readable
