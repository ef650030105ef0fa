"""Agent-script configuration (the ``crm:`` section): where scripts live, which one each
queue or campaign shows.

Imports nothing but pydantic: ``cti_server.config`` builds its ``Config`` from this, so it
must not reach back into modules that read the config.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

_Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


class ScriptSettings(BaseModel):
    """A campaign's script wins over its queue's; a queue with none shows no script."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scripts_dir: str | None = Field(
        None, description="directory of *.yaml agent scripts; the shipped ones if unset"
    )
    by_queue: dict[_Name, _Name] = Field(
        default_factory=dict, description="queue name -> script name"
    )
    by_campaign: dict[_Name, _Name] = Field(
        default_factory=dict, description="campaign name -> script name"
    )


__all__ = ["ScriptSettings"]
