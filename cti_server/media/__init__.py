"""Media: the prompt catalogue, prompt playout and the prompt/hold-music files.

``prompts`` and ``player`` are sans-IO; ``prompt_files`` (espeak-ng, sox, files) and ``cli`` are
edges. Import ``prompt_files`` explicitly where files are touched.
"""

from cti_server.media.player import FRAME_SECONDS, Codec, PromptPlayer, wav_to_frames
from cti_server.media.prompts import (
    ClipRef,
    ClipSpec,
    PromptCatalog,
    PromptError,
    PromptTextsError,
    load_catalog,
    parse_texts,
    say_number,
)

__all__ = [
    "FRAME_SECONDS",
    "ClipRef",
    "ClipSpec",
    "Codec",
    "PromptCatalog",
    "PromptError",
    "PromptPlayer",
    "PromptTextsError",
    "load_catalog",
    "parse_texts",
    "say_number",
    "wav_to_frames",
]
