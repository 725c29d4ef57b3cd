"""python -m orchestration add <name> | list | check | state [<name>] | reset <name> | sync-all

Exit status: 0 done, 1 a question answered no, 2 a project the orchestrator cannot use (one
line naming the file or setting and the fix); sync-all's own contract is in sync_all.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t

from orchestration.project import (
    WAREHOUSE_LOADER,
    MeltanoProject,
    ProjectError,
    Workspace,
    key_groups,
    overlap_problems,
)

HOW_TO_ADD = ("add one with `python -m orchestration add <name>` "
              "(writes workspaces/<name>.meltano.yml)")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m orchestration")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="write workspaces/<name>.meltano.yml")
    add.add_argument("name")
    commands.add_parser("list", help="the workspaces, their schemas and who shares their keys")
    commands.add_parser("check", help="every problem with the workspace files, one line each")
    state = commands.add_parser("state", help="each workspace's bookmarks (Meltano's state)")
    state.add_argument("name", nargs="?", help="only this workspace")
    state.add_argument("--json", action="store_true", help="the whole state, as Meltano holds it")
    reset = commands.add_parser("reset", help="forget a workspace's bookmarks and raw rows")
    reset.add_argument("name")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    commands.add_parser("sync-all", help="every workspace once through Dagster, then dbt")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "sync-all":
            from orchestration.sync_all import sync_all

            return sync_all()
        project = MeltanoProject.from_env()
        commands: dict[str, t.Callable[[MeltanoProject, argparse.Namespace], int]] = {
            "add": add, "list": list_workspaces, "check": check, "state": state, "reset": reset}
        return commands[args.command](project, args)
    except ProjectError as exc:
        print(f"orchestration: {exc}", file=sys.stderr)
        return 2


def add(project: MeltanoProject, args: argparse.Namespace) -> int:
    path = project.add_workspace(args.name)
    upper = args.name.upper()
    print(f"wrote {path.relative_to(project.root)}; now set its keys, e.g.\n"
          f"  meltano config set tap-replies--{args.name} smartlead.api_key '…'\n"
          f"  (or TAP_REPLIES__{upper}_SMARTLEAD_API_KEY in the environment or .env)")
    return 0


def list_workspaces(project: MeltanoProject, args: argparse.Namespace) -> int:
    workspaces = project.workspaces()
    if not workspaces:
        print(f"no workspaces in {project.root}: {HOW_TO_ADD}")
        return 0
    keys = sharing(project, workspaces)
    for workspace in workspaces:
        print(f"{workspace.name}\tschema {workspace.schema}\t"
              f"state {workspace.state_id(project.environment, WAREHOUSE_LOADER)}\t"
              f"{keys[workspace.name]}")
    return 0


def sharing(project: MeltanoProject, workspaces: t.Sequence[Workspace]) -> dict[str, str]:
    """Per workspace: whom it shares a provider key with (one pool: they sync in turn)."""
    groups = key_groups(project, workspaces)
    said = {}
    for workspace in workspaces:
        others = [w.name for w in workspaces
                  if groups[w.name] == groups[workspace.name] and w != workspace]
        if others:
            said[workspace.name] = f"shares a key with {', '.join(others)} (syncs in turn)"
        elif project.key_fingerprints(workspace):
            said[workspace.name] = "keys of its own"
        else:
            said[workspace.name] = "no keys yet"
    return said


def check(project: MeltanoProject, args: argparse.Namespace) -> int:
    """Everything sync-all would refuse, every line at once (the files were read already)."""
    workspaces = project.workspaces(checked=False)
    problems = [] if workspaces else [f"no workspaces in {project.root}: {HOW_TO_ADD}"]
    problems += overlap_problems(project, workspaces)
    problems += [f"workspace {w.name} has no provider key: set one, e.g. "
                 f"TAP_REPLIES__{w.name.upper()}_SMARTLEAD_API_KEY"
                 for w in workspaces if not project.key_fingerprints(w)]
    try:
        from orchestration.assets import system_database_uri

        system_database_uri(project)
    except ProjectError as exc:
        problems.append(str(exc))
    for line in problems:
        print(f"check: {line}")
    if not problems:
        print(f"check: ok, {len(workspaces)} workspace" + "s" * (len(workspaces) != 1)
              + f" ({', '.join(w.name for w in workspaces)}), each reading its own accounts "
              "into its own schema")
    return 2 if problems else 0


def chosen(project: MeltanoProject, name: str | None) -> list[Workspace]:
    """Every workspace, or the one named (even one sync-all would refuse: to inspect it)."""
    workspaces = project.workspaces(checked=False)
    if name is None:
        if not workspaces:
            raise ProjectError(f"no workspaces in {project.root}: {HOW_TO_ADD}")
        return workspaces
    found = [w for w in workspaces if w.name == name]
    if not found:
        known = ", ".join(w.name for w in workspaces) or "none"
        raise ProjectError(f"no workspace {name!r} in {project.root} (workspaces: {known})")
    return found


def state(project: MeltanoProject, args: argparse.Namespace) -> int:
    from orchestration.workspace_state import SystemDatabase, describe, state_ids_of

    workspaces = chosen(project, args.name)
    states = {s.state_id: s for s in SystemDatabase(project).states()}
    own = {w.name: [states[i] for i in state_ids_of(w.plugin, states)] for w in workspaces}
    if args.json:  # one document: state id → the state Meltano holds
        print(json.dumps({s.state_id: s.completed for found in own.values() for s in found},
                         indent=2, default=str))
        return 0
    for workspace in workspaces:
        print("\n".join(describe(workspace, own[workspace.name])))
    return 0


def reset(project: MeltanoProject, args: argparse.Namespace) -> int:
    from orchestration.workspace_state import carry_out, plan_reset

    [workspace] = chosen(project, args.name)
    plan, system, warehouse = plan_reset(project, workspace)
    if not args.yes and not confirmed(plan.question()):
        print("reset: nothing changed (answer y, or pass --yes)")
        return 1
    carry_out(plan, system, warehouse)
    print(f"reset workspace {workspace.name}: forgot {len(plan.state_ids)} state id(s), emptied "
          f"{len(plan.tables)} tables in schema {workspace.schema}; its next sync reads "
          "everything again, and the next dbt build drops its old rows from the marts")
    return 0


def confirmed(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:  # no terminal to ask: the answer is no
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


if __name__ == "__main__":
    sys.exit(main())
