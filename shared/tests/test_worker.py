"""shared.worker: the runtime of every worker, driven as a real process."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from shared.testing import REPO_ROOT

# A worker on the shared runtime whose tasks the test chooses (argv[1]): `raise` adds a
# task that raises, `return` one that returns; `run` only runs tasks that wait for ever.
WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from shared import worker
    from shared.settings import ServiceSettings

    async def forever():
        try:
            await asyncio.Event().wait()
        finally:
            print("forever task cancelled", flush=True)

    async def breaks():
        await asyncio.sleep(0)
        raise RuntimeError("the consumer broke")

    async def returns():
        await asyncio.sleep(0)

    async def build():
        async def cleanup():
            print("cleanup ran", flush=True)
        extra = {"raise": [breaks], "return": [returns], "run": []}[sys.argv[1]]
        print("started", flush=True)
        return [forever(), *(task() for task in extra)], cleanup

    worker.main("probe", ServiceSettings(environment="test", log_json=False), build)
    """
)


def start(mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, mode],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the worker logs to stdout; a traceback goes to stderr
        text=True,
    )


def test_a_task_that_raises_makes_the_worker_exit_non_zero_after_cleaning_up() -> None:
    process = start("raise")
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 1, out
    assert "forever task cancelled" in out  # the other tasks are stopped, not abandoned
    assert "cleanup ran" in out
    assert "probe worker task failed" in out
    assert "RuntimeError: the consumer broke" in out


def test_a_task_that_returns_makes_the_worker_exit_non_zero() -> None:
    process = start("return")
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 1, out
    assert "ended on its own" in out
    assert "cleanup ran" in out


def test_sigterm_stops_every_task_and_exits_zero() -> None:
    process = start("run")
    assert process.stdout is not None
    # Signal handlers are set once the tasks are built; wait for the runtime's own line.
    while "probe worker started" not in (line := process.stdout.readline()):
        assert line, "the worker ended before it started its tasks"
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    assert "forever task cancelled" in out
    assert "cleanup ran" in out
