"""The process supervisor behind `make run`: every line of a Procfile runs, restarts with
backoff when it exits, and never takes the others down (stdlib only).

    python scripts/supervise.py var/Procfile [--status var/supervise.json]

- One terminal view: each process's output, line by line, prefixed with its name.
- A process that exits (crash, SIGKILL, out of memory) is started again after a delay
  that doubles with each quick failure (0.5 s, 1 s, 2 s ... 30 s at most); a run that
  lasted `--stable` seconds counts as healthy and resets the delay.
- A process that failed `--loud-after` times in a row is reported loudly on stderr at
  every further failure; it keeps being retried (a dependency may come back).
- SIGINT (Ctrl-C) or SIGTERM stops everything: SIGTERM to each process group, SIGKILL
  after `--grace` seconds; the exit status is 0 once all are gone.
- `--status FILE` keeps a JSON file of each process's pid, state and restart count, for
  operators and the fault tests.

Why our own and not honcho, supervisord or circus: honcho stops every process when one
exits; supervisord delays only restarts of a process that dies within `startsecs` (a
process that crashes after a minute is restarted at once, for ever) and does not prefix
the lines it passes through; circus needs ZeroMQ. This one is a page long and tested in
tests/test_supervise.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FIRST_DELAY_S = 0.5
LINE_LIMIT = 1 << 20
MAX_DELAY_S = 30.0
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_.-]+):\s*(.+)$")
SHELL_SYNTAX = re.compile(r"[;&|<>()`\n]|^\s*(trap|cd|while|for|if|until|case)\b")
COLOURS = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]


def parse_procfile(text: str) -> dict[str, str]:
    """`name: command` lines (Procfile format); blank lines and `#` comments skipped."""
    processes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PROCFILE_LINE.match(line)
        if match is None:
            raise ValueError(f"Procfile line {number} is not `name: command`: {line!r}")
        name, command = match.groups()
        if name in processes:
            raise ValueError(f"Procfile line {number}: {name!r} appears twice")
        processes[name] = command
    return processes


def shell_command(command: str) -> str:
    """What `sh -c` runs: a simple command is exec'd, so the pid we watch (and an operator
    kills) is the program's own; a compound one (`a; b`, pipes) runs as written."""
    return command if SHELL_SYNTAX.search(command) else f"exec {command}"


def restart_delay(failures: int) -> float:
    """Delay before the next start after `failures` quick failures in a row."""
    return min(FIRST_DELAY_S * 2 ** max(failures - 1, 0), MAX_DELAY_S)


@dataclass
class Child:
    name: str
    command: str
    pid: int | None = None
    state: str = "starting"
    starts: int = 0
    failures: int = 0  # quick failures in a row
    last_exit: int | None = None


class Supervisor:
    def __init__(
        self,
        processes: dict[str, str],
        *,
        status: Path | None = None,
        stable_s: float = 10.0,
        loud_after: int = 5,
        grace_s: float = 10.0,
    ) -> None:
        self.children = {name: Child(name, command) for name, command in processes.items()}
        self.status = status
        self.stable_s = stable_s
        self.loud_after = loud_after
        self.grace_s = grace_s
        self.stopping = asyncio.Event()
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        width = max((len(name) for name in processes), default=0)
        colour = sys.stdout.isatty()
        self.prefixes = {
            name: (
                f"\x1b[{COLOURS[i % len(COLOURS)]}m{name:<{width}} |\x1b[0m "
                if colour
                else f"{name:<{width}} | "
            )
            for i, name in enumerate(processes)
        }

    def say(self, message: str, *, loud: bool = False) -> None:
        line = f"{time.strftime('%H:%M:%S')} supervise | {message}\n"
        if loud:
            banner = "!" * 78
            sys.stderr.write(f"{banner}\n{line}{banner}\n")
            sys.stderr.flush()
        else:
            sys.stdout.write(line)
            sys.stdout.flush()

    def write_status(self) -> None:
        if self.status is None:
            return
        body = {
            "supervisor_pid": os.getpid(),
            "processes": {
                c.name: {
                    "pid": c.pid,
                    "state": c.state,
                    "starts": c.starts,
                    "failures": c.failures,
                    "last_exit": c.last_exit,
                }
                for c in self.children.values()
            },
        }
        temporary = self.status.with_suffix(".tmp")
        temporary.write_text(json.dumps(body, indent=2))
        temporary.replace(self.status)  # readers never see half a file

    async def _pipe(self, name: str, stream: asyncio.StreamReader) -> None:
        prefix = self.prefixes[name]
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the buffer: pass it on in pieces
                line = await stream.read(LINE_LIMIT)
            if not line:
                return
            sys.stdout.write(f"{time.strftime('%H:%M:%S')} {prefix}")
            sys.stdout.write(line.decode(errors="replace").rstrip("\n") + "\n")
            sys.stdout.flush()

    async def _run_once(self, child: Child) -> int:
        process = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            shell_command(child.command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches us, we stop it
            # Python children write through the pipe line by line, as to a terminal.
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            limit=LINE_LIMIT,
        )
        self.processes[child.name] = process
        child.pid, child.state, child.starts = process.pid, "running", child.starts + 1
        self.write_status()
        assert process.stdout is not None
        await self._pipe(child.name, process.stdout)
        return await process.wait()

    async def _keep_running(self, child: Child) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                code = await self._run_once(child)
            except OSError as exc:  # could not even start it (no such file, no fds left)
                self.say(f"{child.name} could not start: {exc}", loud=True)
                code = 127
            child.pid, child.last_exit = None, code
            if self.stopping.is_set():
                child.state = "stopped"
                self.write_status()
                return
            ran = time.monotonic() - started
            child.failures = 1 if ran >= self.stable_s else child.failures + 1
            delay = restart_delay(child.failures)
            child.state = "backoff"
            self.write_status()
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            if child.failures >= self.loud_after:
                self.say(
                    f"{child.name} KEEPS CRASHING: {child.failures} failures in a row "
                    f"({how}); retrying in {delay:.1f}s",
                    loud=True,
                )
            else:
                self.say(f"{child.name} exited ({how}) after {ran:.1f}s; restart in {delay:.1f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _stop_all(self) -> None:
        running = [p for p in self.processes.values() if p.returncode is None]
        self.say(f"stopping {len(running)} processes")
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                self.say(f"pid {process.pid} ignored SIGTERM for {self.grace_s:.0f}s: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stopping.set)
        keepers = [asyncio.create_task(self._keep_running(c)) for c in self.children.values()]
        self.say(f"started {len(keepers)} processes")
        await self.stopping.wait()
        await self._stop_all()
        await asyncio.gather(*keepers)
        self.write_status()
        self.say("all processes stopped")
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("procfile", type=Path)
    parser.add_argument("--status", type=Path, help="keep a JSON status file here")
    parser.add_argument("--stable", type=float, default=10.0, help="seconds of a healthy run")
    parser.add_argument("--loud-after", type=int, default=5, help="failures before shouting")
    parser.add_argument("--grace", type=float, default=10.0, help="SIGTERM to SIGKILL seconds")
    args = parser.parse_args()
    try:
        processes = parse_procfile(args.procfile.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"supervise: {exc}") from exc
    if not processes:
        raise SystemExit(f"supervise: {args.procfile} names no process")
    supervisor = Supervisor(
        processes,
        status=args.status,
        stable_s=args.stable,
        loud_after=args.loud_after,
        grace_s=args.grace,
    )
    raise SystemExit(asyncio.run(supervisor.run()))


if __name__ == "__main__":
    main()
