"""Start-up: the production server (gunicorn, one worker) to its first answer on /fhir/metadata, side by side with
the floor `python -c "import flask"`, interleaved; prints both, the ratios, and whether the target (≤ 2×) is met.

Two start-ups a round, on the package's own Questionnaires and rule files: the first with a new data folder
(KS_DATA_DIR), which finds them in the package's manifest of the files that passed every start-up check
(service/data/checked.json), and a restart on that folder; either skips the slow checks (service/startup_record.py;
with other files, or ones edited, the first start-up runs them all and records them for the restarts).

Both Pythons, the floor's and the server's, run as from an installed package: with a bytecode cache (in a
temporary PYTHONPYCACHEPREFIX, filled by one unmeasured round), as `pip install` compiles it into the image
(the Dockerfile). `--no-bytecode-cache` keeps the environment as it is instead: with PYTHONDONTWRITEBYTECODE=1
and the editable install of a checkout, the service's own modules are then compiled from source at every start.
Run: .venv/bin/python benchmarks/startup.py [--rounds 5] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.embedded.sekmet import free_port  # noqa: E402

TARGET = 2.0


def python_env(bytecode: Path | None) -> dict[str, str]:
    """The environment without KS_* settings; with `bytecode`, Python's bytecode cache there (for both runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KS_")}
    if bytecode is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    return env


def floor(base: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import flask"], check=True, env=base)
    return time.perf_counter() - t0


def server(data_dir: Path, base: dict[str, str]) -> float:
    """Seconds from starting gunicorn to the first 200 on /fhir/metadata (production settings, no FHIR server)."""
    port = free_port()
    env = {
        **base,
        "KS_ENV": "production",
        "KS_SECRET_KEY": secrets.token_urlsafe(48),
        "KS_API_AUTH": "none",
        "KS_DATA_DIR": str(data_dir),
        "KS_EHR_REGISTRY": str(ROOT / "examples" / "ehr-registry.smart-launcher.yaml"),
        "KS_OUTBOX_WORKER": "off",
        "KS_LOG_LEVEL": "WARNING",
    }
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:service.gunicorn_conf",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "service:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - t0 < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/fhir/metadata", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.01)
        raise SystemExit("the server did not answer within 60 s")
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-bytecode-cache", action="store_true", help="keep the environment's bytecode setting")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ks-startup-bench-"))
    try:
        _measure(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(args: argparse.Namespace, tmp: Path) -> None:
    base = python_env(None if args.no_bytecode_cache else tmp / "bytecode")
    if not args.no_bytecode_cache:  # one unmeasured round fills the bytecode cache
        floor(base)
        server(tmp / "warm-up", base)
    floors: list[float] = []
    firsts: list[float] = []
    restarts: list[float] = []
    for i in range(args.rounds):  # interleaved: all three see the same machine
        floors.append(floor(base))
        firsts.append(server(tmp / f"data-{i}", base))  # a new data folder
        restarts.append(server(tmp / f"data-{i}", base))  # the same folder again
    f = statistics.median(floors)
    cache = "no bytecode cache (as the environment has it)" if args.no_bytecode_cache else "with a bytecode cache"
    print(f"{args.rounds} rounds, interleaved, {os.cpu_count()} CPU(s), {cache}; medians")
    print(f"python -c 'import flask': {f * 1000:.0f} ms (runs {_runs(floors)})")
    for what, runs in (("first start, new data folder", firsts), ("restart, same data folder", restarts)):
        s = statistics.median(runs)
        print(f"gunicorn -w 1 to its first /fhir/metadata, {what}: {s * 1000:.0f} ms (runs {_runs(runs)})")
        ratio = s / f
        print(f"  target ≤ {TARGET:.0f}× the floor: {'met' if ratio <= TARGET else 'NOT met'} ({ratio:.1f}×)")


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{x * 1000:.0f}" for x in seconds)


if __name__ == "__main__":
    main()
