"""Start-up: the production server (gunicorn, one worker) to its first answer on /fhir/metadata, side by side with
the floor `python -c "import flask"`, interleaved; prints both, the ratio, and whether the target (≤ 2×) is met.
Run: .venv/bin/python benchmarks/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
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


def floor() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import flask"], check=True)
    return time.perf_counter() - t0


def server(tmp: Path) -> float:
    """Seconds from starting gunicorn to the first 200 on /fhir/metadata (production settings, no FHIR server)."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KS_")},
        "KS_ENV": "production",
        "KS_SECRET_KEY": secrets.token_urlsafe(48),
        "KS_API_AUTH": "none",
        "KS_DATA_DIR": str(tmp / f"data-{port}"),
        "KS_EHR_REGISTRY": str(ROOT / "examples" / "ehr-registry.smart-launcher.yaml"),
        "KS_OUTBOX_WORKER": "off",
        "KS_LOG_LEVEL": "WARNING",
    }
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "service:create_app()"],
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
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ks-startup-bench-"))
    floors, servers = [], []
    for _ in range(args.rounds):  # interleaved: both see the same machine
        floors.append(floor())
        servers.append(server(tmp))
    f, s = statistics.median(floors), statistics.median(servers)
    print(f"{args.rounds} rounds, interleaved, {os.cpu_count()} CPU(s); medians")
    print(f"python -c 'import flask': {f * 1000:.0f} ms (runs {', '.join(f'{x * 1000:.0f}' for x in floors)})")
    print(
        f"gunicorn -w 1 to its first /fhir/metadata: {s * 1000:.0f} ms (runs {', '.join(f'{x * 1000:.0f}' for x in servers)})"
    )
    ratio = s / f
    print(f"target start-up ≤ {TARGET:.0f}× the floor: {'met' if ratio <= TARGET else 'NOT met'} ({ratio:.1f}×)")


if __name__ == "__main__":
    main()
