"""Every private singer-sdk name tap-replies overrides, calls, reads or sets, and why.

A private name can change in any SDK release without a deprecation warning, so each one is listed
here, once, and tests/test_sdk_hooks.py fails loudly when the installed SDK no longer has it (or,
where we override it, when its parameters change). Use a public hook wherever one serves; add a
private one only with a line below saying why none does.

- `Stream._write_state_message()` (called only by `write_state_now` below, which every
  checkpoint goes through: after every page, after a finished window, and before stopping on a
  wait longer than max_wait_seconds): the SDK writes STATE only every `STATE_MSG_FREQUENCY`
  records and at a stream's end; there is no public "checkpoint now", and a checkpoint per page
  is what makes a killed sync resume where it stopped.
- `StreamStateManager.is_flushed` (set False by `write_state_now(changed=True)`): the resume note
  and the changed-since bookmark are written into the partition's state dict directly
  (`get_context_state`), which the SDK does not notice; clearing the flag is how it learns the
  state changed. No public setter exists.
- `Stream._increment_stream_state()` (overridden to do nothing in `NewestFirstStream` and
  `ChangedSinceStream`): the SDK advances a bookmark per record, with a "progress marker"
  it promotes at the end; these streams checkpoint a window or an offset per page instead. No
  public switch turns per-record bookmarking off (`is_sorted = False` only changes the marker).
- `Stream._process_record()` (overridden by `ProviderStream`): the SDK copies every partition key
  into each record there, after `post_process` has run, so no public hook can keep a partition
  key that is a request filter (Smartlead's chunk of campaign ids) out of the record.
  `RecordGate.fill_in` copies the keys the schema declares itself, before the record's
  checks (a primary key may be one: Smartlead's lead rows name no campaign).
- `Stream._generate_record_messages()` (overridden by `ProviderStream`, through
  `record_messages.lean_record_messages`):
  the SDK walks every record to drop deselected properties there, even when the catalog
  deselects none; on short records that walk costs as much as the record's JSON. The override
  skips it only when every property is selected and the conformance level is NONE, and takes the
  SDK's own path otherwise. No public hook runs between `post_process` and the RECORD message.
- `Stream._stream_version` (read by `lean_record_messages`): the RECORD message's `version`, as the
  SDK sets it for full-table streams; no public accessor exists.
- `RESTStream._LOG_REQUEST_METRIC_URLS = False` (pinned on `ProviderStream`): the SDK default is
  False in 0.54; pinned so a changed default can never log Smartlead's URLs, whose query string
  carries the key. There is no public setting for it.
- `PluginBase._env_var_config` (a classproperty, overridden and read by `TapReplies`): the SDK
  reads only top-level settings from the environment and replaces a whole nested block with it;
  ours reads `TAP_REPLIES_SMARTLEAD_API_KEY`-style nested settings and merges them key by key.
  `parse_env_config` only turns the SDK's reading on or off.
- `singer_sdk.helpers._classproperty.classproperty` (decorates our `_env_var_config`): the SDK
  declares `_env_var_config` with it, so an override must be one too to read from the class.
- `PluginBase._validate_config()` (overridden by `TapReplies`): keys must be registered with the
  log redactor before any validation message can print them, and our own one-line errors (which
  name provider, setting and fix) must come before the JSON-schema ones. The SDK offers no hook
  before or around validation.

Not a private name, but a private class's fields: `TapReplies.cb_test` builds its tap from the
`config` and `parse_env` of what `cb_config` returns (the SDK's `_ConfigInput`), as the SDK's own
`cb_test` does; `tests/test_connection_check.py` fails if either field goes.

Public names the tap uses beyond what their documentation promises, listed for the same reason:

- `Stream.TYPE_CONFORMANCE_LEVEL` (set per record by `set_record_conformance` below): the SDK
  reads it as a stream's fixed setting; the tap flips it for each record, just before the SDK
  writes the record `post_process` returned, so the SDK's per-value conformance (over half of
  the tap's CPU) runs only for a record whose own check found a drift it could not put right.
- `Stream.finalize_state_progress_markers()` (overridden by `ProviderStream`): the tap calls it
  once per stream right after the stream's sync ends, the one place there is for a stream's
  summary line; an SDK that called it elsewhere, or not at all, would move or lose that line.
"""

from __future__ import annotations

import typing as t

from singer_sdk.helpers.conform import TypeConformanceLevel

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

# "Owner.name" of each hook above -> the parameter names of the SDK's method where we override
# it, or None where we read, set or call it. tests/test_sdk_hooks.py checks each against the SDK.
PRIVATE_SDK_HOOKS: dict[str, tuple[str, ...] | None] = {
    "Stream._write_state_message": None,
    "StreamStateManager.is_flushed": None,
    "Stream._increment_stream_state": ("self", "latest_record", "context"),
    "Stream._process_record": ("self", "record", "child_context", "partition_context"),
    "Stream._generate_record_messages": ("self", "record"),
    "Stream._stream_version": None,
    "RESTStream._LOG_REQUEST_METRIC_URLS": None,
    "PluginBase._env_var_config": None,
    "singer_sdk.helpers._classproperty.classproperty": None,
    "PluginBase._validate_config": ("self", "raise_errors"),
    "Stream.TYPE_CONFORMANCE_LEVEL": None,
    "Stream.finalize_state_progress_markers": ("self", "state"),
}


def set_record_conformance(stream: Stream, *, needed: bool) -> None:
    """The SDK's conformance for the record `post_process` is about to return: RECURSIVE where
    the record's own check found a drift it could not put right, none otherwise."""
    stream.TYPE_CONFORMANCE_LEVEL = (
        TypeConformanceLevel.RECURSIVE if needed else TypeConformanceLevel.NONE)


def write_state_now(stream: Stream, *, changed: bool = False) -> None:
    """A checkpoint: STATE written now. `changed`: the state was edited in place, which the SDK
    does not notice (without it, nothing is written unless the SDK itself changed the state)."""
    if changed:
        stream.state_manager.is_flushed = False
    stream._write_state_message()
