"""Callbacks, voice messages and agent scripts over the API, served by ``CallControl``.

``GET /callbacks?status=pending``, ``GET /voicemail`` (an agent: its own messages),
``GET /voicemail/{id}/audio`` (a WAV file), ``POST /voicemail/{id}/done`` and
``GET /scripts/{name}``. Which rows an agent may see is the implementation's to decide (it
gets ``by``); without one these answer 503.
"""

from __future__ import annotations

from typing import Any

from cti_server.api.control import CallControl, NotFound, Unavailable
from cti_server.api.models import (
    CallbacksOut,
    CallbacksQuery,
    Ok,
    ScriptOut,
    VoicemailOut,
)
from cti_server.api.router import ApiRequest, Reply, Route, resolve


class ContactApi:
    def __init__(self, control: CallControl | None) -> None:
        self.control = control

    def _control(self) -> CallControl:
        if self.control is None:
            raise Unavailable("callbacks, voice messages and scripts are not available here")
        return self.control

    async def list_callbacks(self, req: ApiRequest) -> dict[str, Any]:
        query: CallbacksQuery = req.query
        rows = await resolve(self._control().callbacks(query.status, req.user))
        return {"callbacks": rows}

    async def list_voicemail(self, req: ApiRequest) -> dict[str, Any]:
        return {"messages": await resolve(self._control().voicemail(req.user))}

    async def voicemail_audio(self, req: ApiRequest) -> Reply:
        data = await resolve(self._control().voicemail_audio(req.params["message_id"], req.user))
        return Reply(raw=bytes(data), content_type="audio/wav")

    async def voicemail_done(self, req: ApiRequest) -> dict[str, Any]:
        await resolve(self._control().voicemail_done(req.params["message_id"], req.user))
        return {"ok": True}

    async def get_script(self, req: ApiRequest) -> dict[str, Any]:
        name = req.params["name"]
        tree = await resolve(self._control().script(name, req.user))
        if tree is None:
            raise NotFound(f"no script {name!r}", "no_such_script")
        return dict(tree)

    def routes(self) -> list[Route]:
        u = (503,)
        return [
            Route("GET", "/callbacks", self.list_callbacks, "Callback requests",
                  ("callbacks",), query=CallbacksQuery, response=CallbacksOut, errors=u),
            Route("GET", "/voicemail", self.list_voicemail,
                  "Voice messages (an agent: its own)", ("voicemail",), response=VoicemailOut,
                  errors=u),
            Route("GET", "/voicemail/{message_id}/audio", self.voicemail_audio,
                  "A voice message's audio (WAV)", ("voicemail",), media_type="audio/wav",
                  errors=u),
            Route("POST", "/voicemail/{message_id}/done", self.voicemail_done,
                  "Mark a voice message handled", ("voicemail",), response=Ok, errors=(409, 503)),
            Route("GET", "/scripts/{name}", self.get_script, "An agent script tree",
                  ("scripts",), response=ScriptOut, errors=u),
        ]  # fmt: skip
