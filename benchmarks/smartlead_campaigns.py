"""Smartlead: requests and wall of a no-change sync as the account's campaigns grow (issue 23).

    .venv/bin/python benchmarks/smartlead_campaigns.py [--campaigns 10,100,500] [--rpm 100000]
                                                       [--idle-sweep-minutes M]

Per campaign count: a sandbox (seed 1, scale 1, Smartlead alone, `campaign_count` campaigns) in
this process, one full sync of the tap's CLI (`python -m tap_replies --config ...`, its state
kept), then a sync from that state with nothing new: the requests the sandbox logged, per
endpoint, the tap's wall at the raised pace `--rpm`, and the wall the default pace (60 per minute)
would take at least for those requests (requests / 60 minutes). With --idle-sweep-minutes, both
syncs run with smartlead.idle_campaign_sweep_minutes=M (the second within the sweep); the
sandbox's campaigns cycle through ACTIVE, PAUSED, COMPLETED, STOPPED and DRAFTED.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tap_replies.registry import PROVIDERS, Provider, Registry  # noqa: E402
from tap_replies.sandbox import Sandbox  # noqa: E402
from tap_replies.sandbox.smartlead import SmartleadEmulator  # noqa: E402

DEFAULT_RPM = 60


def sync(config: Path, state: dict | None, tmp: str) -> tuple[dict, float]:
    command = [sys.executable, "-m", "tap_replies", "--config", str(config)]
    if state is not None:
        Path(tmp, "state.json").write_text(json.dumps(state))
        command += ["--state", str(Path(tmp, "state.json"))]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    states = [json.loads(line)["value"] for line in proc.stdout.splitlines()
              if line.startswith('{"type":"STATE"') or '"type": "STATE"' in line[:20]]
    return states[-1], wall


def measure(count: int, rpm: int, sweep: int | None) -> dict[str, object]:
    emulator = type("Campaigns", (SmartleadEmulator,), {"campaign_count": count})
    smartlead = PROVIDERS["smartlead"]
    registry = Registry(Provider(smartlead.spec, smartlead.streams, emulator))
    with tempfile.TemporaryDirectory() as tmp, Sandbox(seed=1, scale=1, registry=registry) as box:
        config = Path(tmp, "config.json")
        config.write_text(json.dumps(
            {"smartlead": {**box.tap_config()["smartlead"], "requests_per_minute": rpm,
                           **({"idle_campaign_sweep_minutes": sweep} if sweep else {})}}))
        state, _ = sync(config, None, tmp)
        box.clear_log()
        _, wall = sync(config, state, tmp)
        by_endpoint = Counter(
            f"{r.method} {r.path.split('?')[0]}".replace(
                next((p for p in r.path.split("/") if p.isdigit()), "#"), "{id}")
            for r in box.requests_for("smartlead"))
    requests = sum(by_endpoint.values())
    return {"campaigns": count, "requests": requests, "wall": wall,
            "floor": requests / DEFAULT_RPM * 60, "by_endpoint": dict(by_endpoint)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", default="10,100,500")
    parser.add_argument("--rpm", type=int, default=100_000)
    parser.add_argument("--idle-sweep-minutes", type=int)
    args = parser.parse_args()
    print(f"| campaigns | requests | wall at {args.rpm}/min (s) | wall at {DEFAULT_RPM}/min, "
          "at least (s) | by endpoint |\n|---|---|---|---|---|")
    for count in (int(c) for c in args.campaigns.split(",")):
        row = measure(count, args.rpm, args.idle_sweep_minutes)
        print(f"| {row['campaigns']} | {row['requests']} | {row['wall']:.1f} | "
              f"{row['floor']:.0f} | {row['by_endpoint']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
