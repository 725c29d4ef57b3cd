"""smartlead.idle_campaign_sweep_minutes (issue 23): an idle campaign's leads are read at most
once per sweep, and a lead changed there while it waits still arrives within the sweep."""

from __future__ import annotations

import copy
import datetime as dt
import typing as t

from tap_replies.providers.smartlead import IDLE_STATUSES, IdleCampaigns
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.smartlead import SmartleadEmulator
from tap_replies.timestamps import format_timestamp, parse_timestamp
from tests.syncing import run_tap

SWEEP_MINUTES = 60
LEADS = "smartlead_campaign_leads"


def config(sandbox: Sandbox, **settings: t.Any) -> dict[str, t.Any]:
    return {"smartlead": {**sandbox.tap_config()["smartlead"], **settings}}


def leads_read(sandbox: Sandbox) -> set[int]:
    """The campaigns whose leads the last sync asked for."""
    return {int(r.path.rstrip("/").split("/")[-2]) for r in sandbox.requests_for("smartlead")
            if r.path.rstrip("/").endswith("/leads") and "/campaigns/" in r.path}


def recategorise_quietly(em: SmartleadEmulator, campaign_id: int) -> tuple[int, int]:
    """A lead of `campaign_id` moved to another category now, the campaign's updated_at left
    as it was (nothing says the campaign changed): its key and its new category."""
    with em.lock:
        lead = em.leads[campaign_id][0]
        lead["category_id"] = next(c for c in (1, 2, 3) if c != lead["category_id"])
        lead["_event"] = int(dt.datetime.now(dt.timezone.utc).timestamp())
        em._cache.clear()
        return lead["id"], lead["category_id"]


def partition(state: dict[str, t.Any], campaign_id: int) -> dict[str, t.Any]:
    return next(p for p in state["bookmarks"][LEADS]["partitions"]
                if p["context"] == {"campaign_id": campaign_id})


def age(state: dict[str, t.Any], campaign_id: int, minutes: int) -> dict[str, t.Any]:
    """The state as it will be `minutes` later: that campaign's last read that much older."""
    aged = copy.deepcopy(state)
    for partition in aged["bookmarks"][LEADS]["partitions"]:
        if partition["context"] == {"campaign_id": campaign_id}:
            read = parse_timestamp(partition["event_time_gt"])
            assert read is not None
            partition["event_time_gt"] = format_timestamp(read - dt.timedelta(minutes=minutes))
    return aged


def test_a_lead_changed_in_a_waiting_idle_campaign_arrives_within_the_sweep(sandbox, fast_tap):
    em = t.cast("SmartleadEmulator", sandbox.providers["smartlead"])
    idle = [c["id"] for c in em.campaigns if c["status"] in IDLE_STATUSES and em.leads[c["id"]]]
    running = {c["id"] for c in em.campaigns if c["status"] not in IDLE_STATUSES}
    settings = config(sandbox, idle_campaign_sweep_minutes=SWEEP_MINUTES)
    first = run_tap(settings, tap_class=fast_tap)
    assert leads_read(sandbox) == set(em.leads)  # no bookmark yet: every campaign is read
    lead_id, category = recategorise_quietly(em, idle[0])

    sandbox.clear_log()
    soon = run_tap(settings, state=copy.deepcopy(first.final_state), tap_class=fast_tap)
    assert leads_read(sandbox) == running  # the idle ones wait
    assert not soon.records.get(LEADS)
    # A campaign that waited keeps its bookmark: its next read asks for every change since.
    assert all(partition(soon.final_state, c) == partition(first.final_state, c) for c in idle)

    sandbox.clear_log()
    later = run_tap(settings, state=age(soon.final_state, idle[0], SWEEP_MINUTES + 1),
                    tap_class=fast_tap)
    assert idle[0] in leads_read(sandbox)
    changed = [r for r in later.records[LEADS] if (r["campaign_id"], r["id"]) == (idle[0], lead_id)]
    assert [r["category_id"] for r in changed] == [category]


def test_without_the_setting_every_campaign_is_read_every_run(sandbox, fast_tap):
    em = t.cast("SmartleadEmulator", sandbox.providers["smartlead"])
    first = run_tap(config(sandbox), tap_class=fast_tap)
    sandbox.clear_log()
    run_tap(config(sandbox), state=first.final_state, tap_class=fast_tap)
    assert leads_read(sandbox) == set(em.leads)


NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
READ = format_timestamp(NOW - dt.timedelta(minutes=10))
QUIET = {"campaign_id": 1, "campaign_status": "PAUSED",
         "campaign_updated_at": "2026-05-01T00:00:00Z"}


def test_an_idle_campaign_waits_only_while_nothing_says_it_changed():
    rule = IdleCampaigns(dt.timedelta(minutes=SWEEP_MINUTES))
    state = {"event_time_gt": READ}
    assert rule.may_wait(QUIET, state, NOW)
    assert not rule.may_wait({**QUIET, "campaign_status": "ACTIVE"}, state, NOW)
    assert not rule.may_wait({**QUIET, "campaign_status": "SOMETHING_NEW"}, state, NOW)
    assert not rule.may_wait({**QUIET, "campaign_updated_at": format_timestamp(NOW)}, state, NOW)
    assert not rule.may_wait({**QUIET, "campaign_updated_at": None}, state, NOW)
    assert not rule.may_wait(QUIET, {}, NOW)  # never read completely
    assert not rule.may_wait(QUIET, {**state, "resume": {"offset": 100}}, NOW)  # a read to finish
    assert not rule.may_wait(QUIET, state, NOW + dt.timedelta(minutes=SWEEP_MINUTES))
    assert not IdleCampaigns(None).may_wait(QUIET, state, NOW)
