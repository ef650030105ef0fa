"""Callbacks, voice messages and scripts over a live API, served by the CallControl fake."""

from __future__ import annotations

from collections.abc import Callable

import pytest_twisted

from tests.api.conftest import WAV, Api


@pytest_twisted.ensureDeferred
async def test_callbacks_filtered_by_status(api: Api) -> None:
    pending = await api.call("GET", "/callbacks?status=pending", user="1001")
    assert pending.status == 200 and [c["id"] for c in pending.json["callbacks"]] == ["CB1"]
    every = await api.call("GET", "/callbacks", user="super")
    assert [c["id"] for c in every.json["callbacks"]] == ["CB1", "CB2"]
    bad = await api.call("GET", "/callbacks?status=lost", user="1001")
    assert (bad.status, bad.error) == (400, "bad_query") and "status" in bad.json["detail"]
    assert (await api.call("GET", "/callbacks")).status == 401


@pytest_twisted.ensureDeferred
async def test_voice_messages_are_the_agents_own(api: Api) -> None:
    mine = await api.call("GET", "/voicemail", user="1001")
    assert [m["id"] for m in mine.json["messages"]] == ["V1"]
    everyone = await api.call("GET", "/voicemail", user="super")
    assert [m["id"] for m in everyone.json["messages"]] == ["V1", "V2"]
    audio = await api.call("GET", "/voicemail/V1/audio", user="1001")
    assert audio.status == 200 and audio.raw == WAV
    assert audio.headers["Content-Type"] == "audio/wav"
    theirs = await api.call("GET", "/voicemail/V2/audio", user="1001")
    assert (theirs.status, theirs.error) == (403, "forbidden")
    missing = await api.call("GET", "/voicemail/V9/audio", user="super")
    assert (missing.status, missing.error) == (404, "not_found")
    done = await api.call("POST", "/voicemail/V1/done", user="1001")
    assert (done.status, done.json) == (200, {"ok": True})
    assert api.control.messages["V1"]["done"] is True
    assert (await api.call("POST", "/voicemail/V2/done", user="1001")).status == 403


@pytest_twisted.ensureDeferred
async def test_scripts(api: Api) -> None:
    found = await api.call("GET", "/scripts/sales", user="1001")
    assert found.status == 200 and found.json["steps"]["greet"]["say"] == "안녕하세요"
    missing = await api.call("GET", "/scripts/nosuch", user="1001")
    assert (missing.status, missing.error) == (404, "no_such_script")
    assert (await api.call("GET", "/scripts/sales")).status == 401


@pytest_twisted.ensureDeferred
async def test_without_call_control_503(make_api: Callable[..., Api]) -> None:
    api = make_api(call_control=None)
    for path in ("/callbacks", "/voicemail", "/voicemail/V1/audio", "/scripts/sales"):
        answer = await api.call("GET", path, user="1001")
        assert (answer.status, answer.error) == (503, "unavailable"), path
