"""The supervisor behind `make run` (scripts/supervise.py), with real processes: a crash is
restarted and costs the others nothing, crash loops back off and are reported loudly,
SIGINT and SIGTERM stop every process, including one that ignores SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from scripts import supervise
from shared.testing import eventually as poll
from tests.conftest import ROOT

BOUND_S = 30
eventually = partial(poll, seconds=BOUND_S, interval=0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Supervised:
    def __init__(self, tmp: Path, procfile: str, *args: str) -> None:
        (tmp / "Procfile").write_text(procfile)
        self.status_file = tmp / "status.json"
        self.out = (tmp / "out.log").open("wb")
        self.err = tmp / "err.log"
        self.err_file = self.err.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts/supervise.py"),
                str(tmp / "Procfile"),
                "--status",
                str(self.status_file),
                *args,
            ],
            stdout=self.out,
            stderr=self.err_file,
            cwd=tmp,
        )
        self.tmp = tmp

    def status(self) -> dict[str, Any]:
        try:
            processes: dict[str, Any] = json.loads(self.status_file.read_text())["processes"]
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return processes

    def running(self, name: str, *, starts: int = 1) -> int:
        """The pid of `name` once it has been started at least `starts` times."""

        def check() -> int | None:
            entry = self.status().get(name)
            if entry and entry["state"] == "running" and entry["starts"] >= starts:
                return int(entry["pid"])
            return None

        pid: int = eventually(check, what=f"{name} running (start {starts})")
        return pid

    def output(self) -> str:
        return (self.tmp / "out.log").read_text()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=BOUND_S)
        finally:
            self.out.close()
            self.err_file.close()


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    started: list[Supervised] = []

    def run(procfile: str, *args: str) -> Supervised:
        s = Supervised(tmp_path, procfile, *args)
        started.append(s)
        return s

    yield run
    for s in started:
        if s.process.poll() is None:
            s.process.kill()
            s.process.wait()


def test_procfile_format() -> None:
    text = "# comment\n\nweb: python -m http.server 8000\nworker-1: sleep 1\n"
    assert supervise.parse_procfile(text) == {
        "web": "python -m http.server 8000",
        "worker-1": "sleep 1",
    }
    with pytest.raises(ValueError, match="line 2"):
        supervise.parse_procfile("a: x\nnot a process line\n")
    with pytest.raises(ValueError, match="twice"):
        supervise.parse_procfile("a: x\na: y\n")


def test_simple_commands_are_execd_compound_ones_run_as_written() -> None:
    assert supervise.shell_command("env A=1 python -m x") == "exec env A=1 python -m x"
    assert supervise.shell_command("echo a; exit 3") == "echo a; exit 3"
    assert supervise.shell_command("trap '' TERM") == "trap '' TERM"


def test_backoff_doubles_up_to_a_ceiling() -> None:
    delays = [supervise.restart_delay(n) for n in range(1, 10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays)
    assert max(delays) == supervise.MAX_DELAY_S


def test_a_killed_process_restarts_and_the_others_keep_running(
    supervised: Callable[..., Supervised],
) -> None:
    s = supervised("steady: sleep 600\nvictim: env A=1 sleep 600\n")
    steady = s.running("steady")
    victim = s.running("victim")
    os.kill(victim, signal.SIGKILL)
    again = s.running("victim", starts=2)
    assert again != victim
    assert alive(steady)
    assert s.status()["steady"]["starts"] == 1
    assert s.process.poll() is None
    assert "victim exited (killed by signal 9)" in s.output()
    assert s.stop() == 0
    assert not alive(steady)
    assert not alive(again)


def test_a_crash_loop_backs_off_and_is_reported_loudly(
    supervised: Callable[..., Supervised],
) -> None:
    s = supervised("crasher: echo starting; exit 3\n", "--loud-after", "3")
    eventually(lambda: s.status().get("crasher", {}).get("starts", 0) >= 4, what="four starts")
    entry = s.status()["crasher"]
    assert entry["last_exit"] == 3
    assert entry["failures"] >= 3
    assert "crasher KEEPS CRASHING" in s.err.read_text()
    # Each start's own output, prefixed with the process name: one view of the logs.
    assert s.output().count("crasher | starting") >= 4
    assert s.stop(signal.SIGINT) == 0


def test_ctrl_c_stops_a_process_that_ignores_sigterm(
    supervised: Callable[..., Supervised],
) -> None:
    s = supervised(
        "stubborn: trap '' TERM; echo ready; while :; do sleep 0.1; done\n", "--grace", "1"
    )
    pid = s.running("stubborn")
    eventually(lambda: "stubborn | ready" in s.output(), what="the trap to be set")
    assert s.stop(signal.SIGINT) == 0
    assert not alive(pid)
    assert "SIGKILL" in s.output()


def test_a_line_longer_than_the_buffer_costs_nothing(
    supervised: Callable[..., Supervised],
) -> None:
    s = supervised(
        "chatty: python3 -c \"print('x' * 3000000); print('after', flush=True); "
        'import time; time.sleep(600)"\n'
    )
    eventually(lambda: "chatty | after" in s.output(), what="the line after the long one")
    assert s.status()["chatty"]["starts"] == 1
    assert s.status()["chatty"]["state"] == "running"
    assert s.stop() == 0
