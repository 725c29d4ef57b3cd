"""The value of the last STATE message a tap wrote: the Singer way to the next run's `--state`.

    .venv/bin/python scripts/last_state.py messages.jsonl > state.json

A tap resumes from the last STATE it emitted (a target would echo it after loading what came
before it). Meltano does this itself: `meltano run` keeps the state in its system database.
"""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path


def last_state(lines: t.Iterable[str]) -> dict[str, t.Any] | None:
    state = None
    for line in lines:
        if not line.lstrip().startswith("{"):
            continue
        message = json.loads(line)
        if message.get("type") == "STATE":
            state = message["value"]
    return state


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: last_state.py MESSAGES_FILE (the tap's stdout; - for stdin)", file=sys.stderr)
        return 2
    name = argv[0]
    if name != "-" and not Path(name).is_file():
        print(f"last_state.py: no file {name} — give the file the tap's output went to",
              file=sys.stderr)
        return 2
    with (sys.stdin if name == "-" else open(name, encoding="utf-8")) as messages:
        state = last_state(messages)
    if state is None:
        print(f"last_state.py: no STATE message in {name} — did the run fail? Its stderr says why",
              file=sys.stderr)
        return 1
    print(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
