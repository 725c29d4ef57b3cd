"""Many workspaces on a schedule: the Dagster code location (`orchestration.definitions`), the
workspace files' reader (`orchestration.project`) and `python -m orchestration add|list|sync-all`.

Kept empty of imports: the Pipes child (meltano_pipes.py) and the CLI load only what they use.
"""
