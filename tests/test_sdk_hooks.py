"""The private singer-sdk names we rely on (tap_replies/sdk_hooks.py) still exist, unchanged.

An SDK upgrade that renames or reshapes one of them fails here, by name, rather than as a silent
change in behaviour (a hook no longer called, a state message no longer written).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.helpers import _classproperty
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams import _state, rest

import tap_replies
from tap_replies import sdk_hooks
from tap_replies.sdk_hooks import PRIVATE_SDK_HOOKS
from tap_replies.tap import TapReplies

SDK_CLASSES: dict[str, type] = {
    "Stream": Stream,
    "RESTStream": RESTStream,
    "PluginBase": PluginBase,
    "StreamStateManager": _state.StreamStateManager,
}
# Set on instances by the SDK's constructors, not declared on the classes.
INSTANCE_ATTRIBUTES = {"Stream._stream_version", "StreamStateManager.is_flushed"}


@pytest.fixture(scope="module")
def fresh_stream() -> Stream:
    """A stream just built by the SDK's constructors (nothing synced, no request sent)."""
    tap = TapReplies(config={"smartlead": {"api_key": "sl_hooks_key_0001",
                                           "api_url": "http://127.0.0.1:9"}},
                     parse_env_config=False)
    return tap.streams["smartlead_inbox_replies"]


def sdk_owner_and_name(hook: str) -> tuple[type, str]:
    owner, name = hook.split(".")
    return SDK_CLASSES[owner], name


@pytest.mark.parametrize("hook", sorted(h for h in PRIVATE_SDK_HOOKS
                                         if h.split(".")[0] in SDK_CLASSES))
def test_the_sdk_still_has_each_private_hook_we_use(hook, fresh_stream):
    owner, name = sdk_owner_and_name(hook)
    gone = f"singer-sdk no longer has {hook}: see tap_replies/sdk_hooks.py"
    if hook in INSTANCE_ATTRIBUTES:
        manager = owner is _state.StreamStateManager
        instance = fresh_stream.state_manager if manager else fresh_stream
        # Our classes never set these in a constructor: present means the SDK set them.
        assert name in vars(instance), gone
    else:
        try:  # not getattr: a classproperty would run on the abstract base
            inspect.getattr_static(owner, name)
        except AttributeError:
            pytest.fail(gone)


@pytest.mark.parametrize("hook", sorted(h for h, params in PRIVATE_SDK_HOOKS.items() if params))
def test_each_private_hook_we_override_keeps_its_parameters(hook):
    owner, name = sdk_owner_and_name(hook)
    found = tuple(inspect.signature(inspect.getattr_static(owner, name)).parameters)
    assert found == PRIVATE_SDK_HOOKS[hook], f"singer-sdk changed {hook}{found}"


def test_the_sdk_declares_its_env_config_with_the_classproperty_we_import():
    declared = inspect.getattr_static(PluginBase, "_env_var_config")
    assert isinstance(declared, _classproperty.classproperty)
    assert isinstance(inspect.getattr_static(TapReplies, "_env_var_config"),
                      _classproperty.classproperty)


def test_the_sdk_still_reads_the_metric_url_flag_and_ours_is_off(fresh_stream):
    uses = re.findall(r"if self\._LOG_REQUEST_METRIC_URLS", inspect.getsource(rest))
    assert uses, "singer-sdk no longer reads _LOG_REQUEST_METRIC_URLS: see tap_replies/sdk_hooks.py"
    assert fresh_stream._LOG_REQUEST_METRIC_URLS is False


def sdk_private_names() -> set[str]:
    """Private names the SDK's tap and stream classes declare or set on their instances."""
    names: set[str] = set()
    for cls in (*SDK_CLASSES.values(), Tap):
        names |= set(dir(cls))
        for base in cls.__mro__:
            if base.__module__.startswith("singer_sdk."):
                source = inspect.getsource(base)
                names |= set(re.findall(r"self\.(_\w+)\s*(?::[^=]+)?=", source))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_every_private_sdk_name_in_the_tap_is_listed_with_its_reason():
    """A new private hook must be added to tap_replies/sdk_hooks.py, or this fails."""
    used: set[str] = set()
    for path in Path(tap_replies.__file__).parent.rglob("*.py"):
        if "sandbox" in path.parts or path.name == "sdk_hooks.py":
            continue
        text = path.read_text()
        used |= set(re.findall(r"\.(_[A-Za-z]\w*)", text))  # read, set or called
        used |= set(re.findall(r"^\s+(?:def )?(_[A-Za-z]\w*)\b", text, re.MULTILINE))  # overridden
    listed = {hook.split(".")[-1] for hook in PRIVATE_SDK_HOOKS}
    assert sorted((used & sdk_private_names()) - listed) == []
    for hook in PRIVATE_SDK_HOOKS:
        assert f"`{hook}" in (sdk_hooks.__doc__ or ""), f"{hook} has no reason in sdk_hooks.py"
