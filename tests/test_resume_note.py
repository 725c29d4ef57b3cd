"""The resume note on its own: read from a partition's state and written back, nothing else."""

from __future__ import annotations

import datetime as dt

from tap_replies.providers.resume_note import ResumeNote

UTC = dt.timezone.utc
NOON = dt.datetime(2025, 6, 1, 12, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


def test_a_note_written_to_state_reads_back_the_same():
    note = ResumeNote(((NOON - HOUR, NOON),), {NOON + HOUR: frozenset({("a",), ("b",)})},
                      max_emitted=NOON + HOUR)
    assert ResumeNote.from_state(note.to_state()) == note


def test_a_range_is_open_below_and_closed_above():
    note = ResumeNote(((NOON - HOUR, NOON),))
    assert note.skip(NOON)
    assert note.skip(NOON - HOUR + dt.timedelta(microseconds=1))
    assert not note.skip(NOON - HOUR)
    assert not note.skip(NOON + dt.timedelta(microseconds=1))


def test_at_an_open_end_only_the_named_keys_are_skipped():
    note = ResumeNote((), {NOON: frozenset({("a",)})})
    assert note.skip(NOON, ("a",))
    assert not note.skip(NOON, ("late",))
    assert not note.skip(NOON)  # a record without a key is never claimed by an edge


def test_entries_that_do_not_parse_skip_nothing():
    note = ResumeNote.from_state({"emitted": [["yesterday", "today"], [1], "x"],
                                  "edges": [["soon", [["a"]]], [NOON.isoformat(), "a"]],
                                  "max_emitted": "never"})
    assert note == ResumeNote()
    assert ResumeNote.from_state(None) == ResumeNote()


def test_progress_joins_touching_ranges_and_an_edge_inside_a_range_is_not_written():
    note = ResumeNote(((NOON - 2 * HOUR, NOON - HOUR),), {NOON - HOUR: frozenset({("a",)})})
    later = note.with_progress([(NOON - HOUR, NOON)], {NOON - HOUR: {("b",)}}, NOON)
    state = later.to_state()
    assert len(state["emitted"]) == 1
    assert "edges" not in state  # NOON - HOUR lies inside the joined range
    assert ResumeNote.from_state(state).skip(NOON - HOUR, ("anything",))
    assert state["max_emitted"].startswith("2025-06-01T12:00:00")
