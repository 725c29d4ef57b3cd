"""Freshness on the raw-load asset: which workspaces have not loaded within the schedule's window.

One asset check over every partition (Dagster's built-in freshness checks judge an asset's
latest materialization, or time partitions; a workspace is neither): it fails naming each
workspace whose latest successful load is older than the window or that never loaded, and its
metadata gives every workspace's age. A schedule runs it every 15 minutes, between the loads.
"""


import time
import typing as t

import dagster as dg

# Four ticks of the 15-minute schedule: a sync slowed by rate limits may outlast one tick (the
# schedule then skips), and a provider's outage gets Dagster's retries, before it counts as stale.
WINDOW_SECONDS = 60 * 60
CHECK_NAME = "every_workspace_loaded_within_an_hour"


def stale(latest: t.Mapping[str, float | None], now: float,
          window: float = WINDOW_SECONDS) -> dict[str, str]:
    """workspace → why it is stale, for those not loaded within `window` seconds of `now`."""
    found = {}
    for name, loaded_at in sorted(latest.items()):
        if loaded_at is None:
            found[name] = "never loaded"
        elif now - loaded_at > window:
            found[name] = f"last loaded {round((now - loaded_at) / 60)} min ago"
    return found


def latest_loads(instance: dg.DagsterInstance, raw_load: dg.AssetKey,
                 partitions: t.Sequence[str]) -> dict[str, float | None]:
    """Each partition's latest successful load (a Unix time), None when it never loaded."""
    latest: dict[str, float | None] = {}
    for name in partitions:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=raw_load, asset_partitions=[name]), limit=1).records
        latest[name] = records[0].timestamp if records else None
    return latest


def freshness_check(raw_load: dg.AssetKey, partitions_name: str,
                    clock: t.Callable[[], float] = time.time) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=raw_load, name=CHECK_NAME,
                    description="Fails while any workspace has not loaded within the last hour.")
    def every_workspace_fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        partitions = context.instance.get_dynamic_partitions(partitions_name)
        latest = latest_loads(context.instance, raw_load, partitions)
        now = clock()
        late = stale(latest, now)
        ages = {name: ("never" if at is None else f"{round((now - at) / 60)} min")
                for name, at in latest.items()}
        return dg.AssetCheckResult(
            passed=not late,
            description=("; ".join(f"{n}: {why}" for n, why in late.items())
                         or f"all {len(latest)} workspaces loaded within the hour"),
            metadata={"stale": sorted(late), "age_by_workspace": ages})

    return every_workspace_fresh
