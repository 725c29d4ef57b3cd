"""python -m tap_replies.sandbox --port 0 --seed N --scale N [--rate PROVIDER=RPM] [--only P,...]"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tap_replies.registry import PROVIDERS
from tap_replies.sandbox.core import FAULTS
from tap_replies.sandbox.instructions import instructions
from tap_replies.sandbox.leadterra import SHAPES as LEADTERRA_SHAPES
from tap_replies.sandbox.leadterra import LeadterraEmulator
from tap_replies.sandbox.server import Sandbox

NAMES = ",".join(PROVIDERS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tap_replies.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=int, default=1, help="data size multiplier")
    parser.add_argument("--rate", action="append", default=[], metavar="PROVIDER=RPM",
                        help="enforce a rate limit (429 + Retry-After), e.g. smartlead=60")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="share of requests answered with 500/503/429/reset/truncated body")
    parser.add_argument("--faults", default=",".join(FAULTS), metavar="LIST",
                        help=f"which faults --fault-rate draws from (default {','.join(FAULTS)})")
    parser.add_argument("--only", metavar="LIST",
                        help=f"serve only these providers, some of {NAMES} (default: all)")
    parser.add_argument("--leadterra-shape", choices=LEADTERRA_SHAPES, default="array",
                        help="the shape /v1/replies answers in (default array)")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",")] if args.only else None
    if only is not None and not set(only) <= set(PROVIDERS):
        parser.error(f"--only {args.only!r}: expected some of {NAMES}")
    faults = [name.strip() for name in args.faults.split(",") if name.strip()]
    unknown = [name for name in faults if name not in FAULTS]
    if unknown or not faults:
        parser.error(f"--faults: expected some of {','.join(FAULTS)}")
    rates: dict[str, float] = {}
    for item in args.rate:
        provider, _, rpm = item.partition("=")
        if provider not in PROVIDERS or not rpm:
            parser.error(f"--rate {item!r}: expected {'|'.join(PROVIDERS)}=RPM")
        rates[provider] = float(rpm)
    sandbox = Sandbox(seed=args.seed, scale=args.scale, port=args.port, host=args.host,
                      rates=rates, latency_ms=args.latency_ms, fault_rate=args.fault_rate,
                      faults=faults, only=only)
    leadterra = sandbox.providers.get("leadterra")
    if isinstance(leadterra, LeadterraEmulator):
        leadterra.replies_shape = args.leadterra_shape
    sandbox.start()
    print(sandbox.base_url)
    print(instructions(sandbox.tap_config()), flush=True)  # its keys, ready to export
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
