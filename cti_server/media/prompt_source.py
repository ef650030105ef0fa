"""Prompt audio for calls, loaded into memory at start-up so the reactor never reads files.

``load_prompt_source`` runs before the reactor starts: it generates missing clips (espeak-ng
+ sox, a few seconds the first time, then nothing), reads every clip of the languages the
server needs plus the music on hold, and keeps their 20 ms frames per codec in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from cti_server.media.player import Codec
from cti_server.media.prompt_files import PromptLibrary, ToolMissingError, ensure_prompts
from cti_server.media.prompts import PromptCatalog, PromptError, load_catalog

log = logging.getLogger(__name__)
CODECS: tuple[Codec, ...] = ("PCMU", "PCMA")


class PreloadedPrompts:
    """``PromptSource`` for the call controller: memory only, after ``preload``."""

    def __init__(
        self, catalog: PromptCatalog, library: PromptLibrary, languages: Iterable[str]
    ) -> None:
        self._catalog = catalog
        self._library = library
        self._languages = tuple(languages)

    def preload(self) -> None:
        for spec in self._catalog.clips(self._languages):
            for codec in CODECS:
                self._library.frames(spec.ref, codec)
        for codec in CODECS:
            self._library.moh_frames(codec)

    def frames(self, prompt_id: str, language: str, codec: str, **slots: int) -> list[bytes]:
        if language not in self._languages:
            return []
        try:
            refs = self._catalog.sequence(prompt_id, language, **slots)
        except PromptError:
            return []
        out: list[bytes] = []
        for clip in self._library.sequence_frames(refs, cast(Codec, codec)):
            out.extend(clip)
        return out

    def music_on_hold(self, codec: str) -> list[bytes]:
        return self._library.moh_frames(cast(Codec, codec))


def unknown_prompts(prompt_ids: Iterable[str]) -> list[str]:
    """Prompt ids a config names that the catalogue does not have (a load-time error)."""
    known = set(load_catalog().prompt_ids)
    return [p for p in prompt_ids if p not in known]


def load_prompt_source(data_dir: str | Path, languages: Iterable[str]) -> PreloadedPrompts | None:
    """Generate what is missing and load it; None (prompts off) if the tools are missing."""
    langs = sorted(set(languages))
    catalog = load_catalog()
    try:
        report = ensure_prompts(catalog, data_dir, langs=langs, moh=True)
    except ToolMissingError as exc:
        log.warning("prompts disabled: %s (apt-get install espeak-ng sox)", exc)
        return None
    if report.generated:
        log.info("prompts: generated %d clips into %s", len(report.generated), data_dir)
    source = PreloadedPrompts(catalog, PromptLibrary(data_dir), langs)
    source.preload()
    return source
