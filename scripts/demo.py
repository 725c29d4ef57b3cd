"""make demo: sandbox → tap-replies → a per-stream summary. (The Meltano → DuckDB path replaces this.)"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tap_replies.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    out_dir = ROOT / "output"
    out_dir.mkdir(exist_ok=True)
    out_file = out_dir / "demo.jsonl"
    with Sandbox(seed=1, scale=1) as sandbox, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "config.json")
        config.write_text(json.dumps(sandbox.tap_config()))
        with out_file.open("w") as sink:
            proc = subprocess.run([sys.executable, "-m", "tap_replies", "--config", str(config)],
                                  stdout=sink, stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
    counts: Counter[str] = Counter()
    for line in out_file.read_text().splitlines():
        message = json.loads(line)
        if message.get("type") == "RECORD":
            counts[message["stream"]] += 1
    print(f"tap-replies demo: records per stream (Singer messages in {out_file.relative_to(ROOT)})")
    for stream, count in sorted(counts.items()):
        print(f"  {stream:<28} {count:>6}")
    print(f"  {'total':<28} {sum(counts.values()):>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
