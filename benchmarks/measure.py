"""Run one command and write what the kernel says it cost: python measure.py RESULT.json CMD...

The benchmark starts every measured process through this small launcher. A child's peak RSS
(ru_maxrss) counts the memory of the process it was forked from until its exec, so a tap forked
straight from the benchmark would inherit the benchmark's own size; spawned from here it inherits
only this script's few megabytes. stdin, stdout and stderr are passed through unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    result_path, command = argv[0], argv[1:]
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"wall": wall, "user": usage.ru_utime, "system": usage.ru_stime,
                   "maxrss_kb": usage.ru_maxrss, "returncode": code}, handle)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
