"""The README's settings table is the one `tap-replies --about --format=markdown` prints.

Run `python -m tests.test_readme` to rewrite the table after changing a setting.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_table() -> str:
    about = subprocess.run([sys.executable, "-m", "tap_replies", "--about", "--format=markdown"],
                           capture_output=True, text=True, check=True).stdout
    rows = [line for line in about.splitlines() if line.startswith("|")]
    # Only the table: the SDK's capability settings (stream maps, batch…) are linked, not listed.
    return "\n".join(row for row in rows if not re.match(
        r"\| (stream_maps|stream_map_config|faker_config|flattening_|batch_config)", row))


def test_readme_settings_table_matches_about_output():
    text = README.read_text()
    current = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == settings_table(), "run: python -m tests.test_readme"


if __name__ == "__main__":
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{settings_table()}\n{END}{tail}")
