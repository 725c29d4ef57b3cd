"""Memory on Leadterra's unpaged reply list at 1x, 3x and 10x (issue 11): list_memory.py's run.

Its own sandbox serves only Leadterra at the sizes the issue named, so it takes no workload.
"""

from __future__ import annotations

import list_memory
from harness.context import Run
from harness.report import Block


def run(run: Run, out: Block) -> None:
    for line in list_memory.section(run.args.seed, run.runs):
        out.say(line)
