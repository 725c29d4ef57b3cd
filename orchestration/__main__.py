"""python -m orchestration add <name> | list | sync-all"""

from __future__ import annotations

import argparse
import sys

from orchestration.project import MeltanoProject, ProjectError, key_groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="write workspaces/<name>.meltano.yml")
    add.add_argument("name")
    commands.add_parser("list", help="the workspaces, their schemas and key groups")
    commands.add_parser("sync-all", help="every workspace once through Dagster, then dbt")
    args = parser.parse_args(argv)
    try:
        if args.command == "sync-all":
            from orchestration.sync_all import sync_all

            return sync_all()
        project = MeltanoProject.from_env()
        if args.command == "add":
            path = project.add_workspace(args.name)
            upper = args.name.upper()
            print(f"wrote {path.relative_to(project.root)}; now set its keys, e.g.\n"
                  f"  meltano config set tap-replies--{args.name} smartlead.api_key '…'\n"
                  f"  (or TAP_REPLIES__{upper}_SMARTLEAD_API_KEY in the environment or .env)")
            return 0
        workspaces = project.workspaces()
        groups = key_groups(project, workspaces)
        for workspace in workspaces:
            print(f"{workspace.name}\tschema {workspace.schema}\t"
                  f"state {workspace.state_id(project.environment, 'target-postgres')}\t"
                  f"keys shared with {groups[workspace.name]}")
        return 0
    except ProjectError as exc:
        print(f"orchestration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
