"""The tap's exit code says what kind of failure ended it, so an orchestrator decides whether a
retry can help from the code, never from the wording (README "Exit codes")."""

from __future__ import annotations

import typing as t

import pytest

from tap_replies.failures import (
    CONFIG_EXIT_CODE,
    REFUSED_EXIT_CODE,
    TRANSIENT_EXIT_CODE,
    UNEXPECTED_EXIT_CODE,
)
from tap_replies.sandbox import Sandbox
from tap_replies.sandbox.core import Response
from tests.syncing import run_tap_cli

PATH = "/api/replies"


def bad_setting(sandbox: Sandbox) -> dict[str, t.Any]:
    return {"tuco": {**sandbox.tap_config()["tuco"], "requests_per_minute": -5}}


def wrong_key(sandbox: Sandbox) -> dict[str, t.Any]:
    return {"tuco": {**sandbox.tap_config()["tuco"], "api_key": "tuco_sk_not_the_right_one"}}


def outage(sandbox: Sandbox) -> dict[str, t.Any]:
    sandbox.override("tuco", PATH, "503", times=None)
    return {"tuco": sandbox.tap_config()["tuco"], "max_retries": 1}


def answer_no_page_documents(sandbox: Sandbox) -> dict[str, t.Any]:
    sandbox.override("tuco", PATH, Response(200, {"replies": [1, 2]}))  # records are objects
    return {"tuco": sandbox.tap_config()["tuco"]}


def read_only_workspace(sandbox: Sandbox) -> dict[str, t.Any]:
    sandbox.override("tuco", PATH, Response(402, {"error": "Workspace is read-only"}))
    return {"tuco": sandbox.tap_config()["tuco"]}


@pytest.mark.parametrize(("make_config", "exit_code"), [
    (bad_setting, CONFIG_EXIT_CODE),
    (wrong_key, REFUSED_EXIT_CODE),
    (read_only_workspace, REFUSED_EXIT_CODE),
    (outage, TRANSIENT_EXIT_CODE),
    (answer_no_page_documents, UNEXPECTED_EXIT_CODE),
], ids=["bad setting", "401", "402", "503 past max_retries", "undocumented shape"])
def test_each_kind_of_failure_exits_with_its_own_code_and_one_error_line(
        sandbox, make_config, exit_code):
    result = run_tap_cli(make_config(sandbox))
    errors = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert result.returncode == exit_code, result.stderr[-2000:]
    assert len(errors) == 1
    assert "tap-replies: " in errors[0]
    assert "Traceback" not in result.stderr


def test_the_codes_are_distinct():
    codes = {CONFIG_EXIT_CODE, REFUSED_EXIT_CODE, TRANSIENT_EXIT_CODE, UNEXPECTED_EXIT_CODE}
    assert len(codes) == 4
    assert 0 not in codes
