"""The prompt catalogue: which clips a prompt is spoken with, in which language.

Theory of operation. ``texts.yaml`` gives every prompt a text per language. A text without
``{slot}`` is one clip (``ko/greeting.wav``). A text with slots is cut at each slot into
``<id>_pre``, ``<id>_mid1``... ``<id>_post`` clips, and :meth:`PromptCatalog.sequence` puts the
number's clips in the gap, so "고객님의 현재 대기 순번은 {position}번입니다" plays as
``[position_is_pre, num_20, num_3, position_is_post]``. Cutting where the translator put the slot
keeps each language's own word order without per-language code. Numbers are spoken from a small
set of word clips (:func:`say_number`); the generator (``prompt_files``) and the media engine
only ever see :class:`ClipRef` values.

Pure: parsing takes text; only :func:`load_catalog` reads a file. Playout lives in ``player``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cti_server.media.player import PromptPlayer, wav_to_frames
from cti_server.yaml_lines import ConfigError, format_validation_error, line_of, load_yaml

__all__ = [
    "ClipRef",
    "ClipSpec",
    "PromptCatalog",
    "PromptError",
    "PromptPlayer",
    "PromptTextsError",
    "default_texts_path",
    "load_catalog",
    "parse_texts",
    "say_number",
    "wav_to_frames",
]

_SLOT = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_ID = r"^[a-z][a-z0-9_]{0,63}$"
SENTENCE_PAD = 0.1
"""Seconds of silence kept before and after a sentence clip."""
WORD_PAD = 0.02
"""Seconds kept on the side of a clip that joins a number, so "이십 삼" does not stutter."""


class PromptTextsError(ConfigError):
    """A problem in a prompt texts file; ``str()`` is ``file:line: reason`` lines."""


class PromptError(ValueError):
    """A prompt asked for that the catalogue cannot speak (unknown id, language or slot)."""


class _ClipClash(Exception):
    def __init__(self, ref: ClipRef, prompt_id: str) -> None:
        super().__init__(ref, prompt_id)
        self.ref, self.prompt_id = ref, prompt_id


class ClipRef(NamedTuple):
    """One audio clip: ``<data_dir>/prompts/<lang>/<clip>.wav``."""

    lang: str
    clip: str

    @property
    def path(self) -> str:
        return f"{self.lang}/{self.clip}.wav"


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """What the generator needs to synthesise one clip."""

    ref: ClipRef
    text: str
    voice: str
    speed: int
    pad: tuple[float, float]
    """Silence (lead, trail) in seconds kept around the trimmed speech."""


# --- numbers -------------------------------------------------------------------------------------


def _say_ko(n: int) -> list[str]:
    """Sino-Korean: 23 = 이십 삼, 105 = 백 오, 10 = 십 (never 일십): one clip per place."""
    if n == 0:
        return ["num_0"]
    clips = []
    for place in (1000, 100, 10, 1):
        digit = n // place % 10
        if digit:
            clips.append(f"num_{digit * place}")
    return clips


def _say_en_below_1000(n: int) -> list[str]:
    clips = []
    if n >= 100:
        clips += [f"num_{n // 100}", "num_hundred"]
        n %= 100
    if n >= 20:
        clips.append(f"num_{n // 10 * 10}")
        n %= 10
    if n:
        clips.append(f"num_{n}")
    return clips


def _say_en(n: int) -> list[str]:
    """American style without "and": 105 = one hundred five."""
    if n == 0:
        return ["num_0"]
    clips = []
    if n >= 1000:
        clips += [*_say_en_below_1000(n // 1000), "num_thousand"]
    return clips + _say_en_below_1000(n % 1000)


_KO_WORDS = ["0", *(str(d * p) for p in (1, 10, 100, 1000) for d in range(1, 10))]
_EN_WORDS = [*(str(i) for i in range(20)), *(str(t) for t in range(20, 100, 10))]
_SPELLERS: dict[str, tuple[Callable[[int], list[str]], list[str]]] = {
    "ko": (_say_ko, _KO_WORDS),
    "en": (_say_en, [*_EN_WORDS, "hundred", "thousand"]),
}
MAX_NUMBER = 9999


def say_number(n: int, lang: str) -> list[str]:
    """Clip ids speaking ``n`` (0..9999) in ``lang``: ``num_<key>`` for a ``numbers`` key."""
    if lang not in _SPELLERS:
        raise PromptError(f"no number words for language {lang!r} (have {', '.join(_SPELLERS)})")
    _check_number(n)
    return _SPELLERS[lang][0](n)


def _check_number(n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_NUMBER:
        raise PromptError(f"cannot speak {n!r}: numbers are integers 0..{MAX_NUMBER}")


# --- the texts file ------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text_problem(value: str) -> str | None:
    if not value.strip():
        return "text is empty"
    if "{" in _SLOT.sub("", value) or "}" in _SLOT.sub("", value):
        return "a slot is written {name} with a lower-case name, e.g. {position}"
    return None


Text = Annotated[str, Field(min_length=1)]


class _Plural(_Model):
    one: Text
    other: Text


class _Voice(_Model):
    voice: str = Field(pattern=r"^[A-Za-z0-9_+\-]{1,40}$")
    speed: int = Field(150, ge=80, le=400, description="espeak-ng words per minute")


class _TextsFile(_Model):
    languages: dict[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")], _Voice] = Field(min_length=1)
    multilingual: list[str] = []
    prompts: dict[Annotated[str, Field(pattern=_ID)], dict[str, str | _Plural]]
    numbers: dict[str, dict[str | int, Text]] = {}

    @field_validator("numbers")
    @classmethod
    def _number_keys(cls, value: dict[str, dict[str | int, str]]) -> dict[str, dict[str, str]]:
        for words in value.values():
            for key in words:
                if not re.fullmatch(r"[a-z0-9_]{1,20}", str(key)):
                    raise ValueError(f"number key {key!r} must be digits or a lower-case word")
        return {lang: {str(k): w for k, w in words.items()} for lang, words in value.items()}


def _slots(text: str) -> list[str]:
    return _SLOT.findall(text)


def _semantic_problems(model: _TextsFile, data: Any, filename: str) -> list[str]:
    """Cross-field checks pydantic cannot place: each problem points at the line to edit."""
    problems: list[str] = []

    def add(loc: tuple[str | int, ...], reason: str) -> None:
        problems.append(f"{filename}:{line_of(data, loc)}: {'.'.join(map(str, loc))}: {reason}")

    langs = list(model.languages)
    slotted_langs: set[str] = set()
    for pid, texts in model.prompts.items():
        missing = [lang for lang in langs if lang not in texts]
        if missing:
            add(("prompts", pid), f"no text for {', '.join(missing)}")
        for lang, text in texts.items():
            if lang not in model.languages:
                add(("prompts", pid, lang), f"language {lang!r} is not in languages")
                continue
            where: tuple[str, ...] = ("prompts", pid, lang)
            forms = (
                [((*where, "one"), text.one), ((*where, "other"), text.other)]
                if isinstance(text, _Plural)
                else [(where, text)]
            )
            for loc, value in forms:
                reason = _text_problem(value)
                if reason:
                    add(loc, reason)
            other = _other(text)
            if _slots(other):
                slotted_langs.add(lang)
            if isinstance(text, _Plural):
                if not _slots(other):
                    add(("prompts", pid, lang), "one/other forms need a {slot} in other")
                elif not set(_slots(text.one)) <= set(_slots(other)):
                    add(("prompts", pid, lang, "one"), "one uses a slot other does not have")
        reference = {frozenset(_slots(_other(t))) for t in texts.values()}
        if len(reference) > 1:
            add(("prompts", pid), "every language must use the same {slots}")
    for i, pid in enumerate(model.multilingual):
        if pid not in model.prompts:
            add(("multilingual", i), f"unknown prompt {pid!r}")
    for lang in model.numbers:
        if lang not in model.languages:
            add(("numbers", lang), f"language {lang!r} is not in languages")
    for lang in sorted(slotted_langs):
        if lang not in _SPELLERS:
            add(("languages", lang), f"prompts have number slots but {lang!r} has no speller")
            continue
        have = {str(k) for k in model.numbers.get(lang, {})}
        need = [k for k in _SPELLERS[lang][1] if k not in have]
        if need:
            add(("numbers", lang) if lang in model.numbers else ("numbers",), _missing(lang, need))
    return problems


def _missing(lang: str, keys: list[str]) -> str:
    return f"{lang}: missing number words {', '.join(keys)}"


def _other(text: str | _Plural) -> str:
    return text.other if isinstance(text, _Plural) else text


# --- the catalogue -------------------------------------------------------------------------------

_Part = tuple[str, str]
"""("clip", clip_id) or ("slot", slot_name)."""


class PromptCatalog:
    """Prompt id and language to clips; built only by :func:`parse_texts`."""

    def __init__(self, model: _TextsFile) -> None:
        self.languages: tuple[str, ...] = tuple(model.languages)
        self._voices = model.languages
        self._multilingual = frozenset(model.multilingual)
        self._forms: dict[tuple[str, str], dict[str, tuple[_Part, ...]]] = {}
        self._specs: dict[ClipRef, ClipSpec] = {}
        for pid, texts in model.prompts.items():
            self._building = pid
            for lang, text in texts.items():
                seen: dict[str, str] = {}
                forms = {"other": self._cut(pid, lang, _other(text).strip(), seen)}
                if isinstance(text, _Plural):
                    forms["one"] = self._cut(f"{pid}_one", lang, text.one.strip(), seen)
                self._forms[pid, lang] = forms
        self._building = "numbers"
        for lang, words in model.numbers.items():
            if lang in self._voices:
                for key, word in words.items():
                    self._add(ClipRef(lang, f"num_{key}"), word, (WORD_PAD, WORD_PAD))

    def _cut(self, base: str, lang: str, text: str, seen: dict[str, str]) -> tuple[_Part, ...]:
        pieces = _SLOT.split(text)
        texts, slots = pieces[0::2], pieces[1::2]
        if not slots:
            return (("clip", self._add(ClipRef(lang, base), text, (SENTENCE_PAD,) * 2, seen)),)
        parts: list[_Part] = []
        for i, piece in enumerate(texts):
            suffix = "pre" if i == 0 else "post" if i == len(slots) else f"mid{i}"
            lead = SENTENCE_PAD if i == 0 else WORD_PAD
            trail = SENTENCE_PAD if i == len(slots) else WORD_PAD
            if any(ch.isalnum() for ch in piece):
                ref = ClipRef(lang, f"{base}_{suffix}")
                parts.append(("clip", self._add(ref, piece.strip(), (lead, trail), seen)))
            if i < len(slots):
                parts.append(("slot", slots[i]))
        return tuple(parts)

    def _add(
        self, ref: ClipRef, text: str, pad: tuple[float, float], seen: dict[str, str] | None = None
    ) -> str:
        """Register a clip; the same words twice in one prompt (one/other forms) share a clip."""
        if seen is not None and text in seen:
            return seen[text]
        if ref in self._specs:
            raise _ClipClash(ref, self._building)
        voice = self._voices[ref.lang]
        self._specs[ref] = ClipSpec(ref, text, voice.voice, voice.speed, pad)
        if seen is not None:
            seen[text] = ref.clip
        return ref.clip

    @property
    def prompt_ids(self) -> list[str]:
        return sorted({pid for pid, _ in self._forms})

    def clips(self, langs: Iterable[str] | None = None) -> list[ClipSpec]:
        """Every clip to generate (prompts, then number words), in file order."""
        wanted = set(self.languages if langs is None else langs)
        return [spec for ref, spec in self._specs.items() if ref.lang in wanted]

    def clip_file(self, prompt_id: str, lang: str) -> str:
        """Relative file of a one-clip prompt, e.g. ``ko/greeting.wav``."""
        form = self._form(prompt_id, lang)["other"]
        if len(form) != 1 or form[0][0] != "clip" or prompt_id in self._multilingual:
            raise PromptError(f"prompt {prompt_id!r} is several clips; use sequence()")
        return ClipRef(lang, form[0][1]).path

    def _slot_names(self, prompt_id: str, lang: str) -> list[str]:
        form = self._form(prompt_id, lang)["other"]
        return [name for kind, name in form if kind == "slot"]

    def _form(self, prompt_id: str, lang: str) -> dict[str, tuple[_Part, ...]]:
        if lang not in self.languages:
            raise PromptError(f"unknown language {lang!r} (have {', '.join(self.languages)})")
        try:
            return self._forms[prompt_id, lang]
        except KeyError:
            raise PromptError(f"unknown prompt {prompt_id!r}") from None

    def sequence(self, prompt_id: str, lang: str, **slots: int) -> list[ClipRef]:
        """The clips to play, in order; a multilingual prompt plays every language in turn."""
        langs = self.languages if prompt_id in self._multilingual else (lang,)
        self._form(prompt_id, lang)
        for number in slots.values():
            _check_number(number)
        refs: list[ClipRef] = []
        for each in langs:
            forms = self._form(prompt_id, each)
            names = self._slot_names(prompt_id, each)
            if set(slots) != set(names):
                raise PromptError(
                    f"prompt {prompt_id!r} takes slots {names or 'none'}, got {sorted(slots)}"
                )
            use_one = "one" in forms and slots[names[0]] == 1
            for kind, value in forms["one" if use_one else "other"]:
                if kind == "clip":
                    refs.append(ClipRef(each, value))
                else:
                    refs += [ClipRef(each, c) for c in say_number(slots[value], each)]
        return refs

    def spec(self, ref: ClipRef) -> ClipSpec:
        return self._specs[ref]


def parse_texts(text: str, filename: str = "<texts>") -> PromptCatalog:
    """Validate a texts file; every problem is reported as ``file:line: where: reason``."""
    try:
        data = load_yaml(text, filename)
    except ConfigError as exc:
        raise PromptTextsError(exc.problems) from exc
    if not isinstance(data, dict):
        raise PromptTextsError([f"{filename}:1: the texts file must be a mapping"])
    try:
        model = _TextsFile.model_validate(data)
    except ValidationError as exc:
        raise PromptTextsError(format_validation_error(exc, data, filename)) from None
    problems = _semantic_problems(model, data, filename)
    if problems:
        raise PromptTextsError(problems)
    try:
        return PromptCatalog(model)
    except _ClipClash as clash:
        loc = ("prompts", clash.prompt_id) if clash.prompt_id in model.prompts else ("numbers",)
        raise PromptTextsError(
            [
                f"{filename}:{line_of(data, loc)}: {'.'.join(loc)}: clip {clash.ref.path} "
                "is already made by another prompt; rename one of them"
            ]
        ) from None


def default_texts_path() -> Path:
    """The texts shipped with the package (``ivr_flows/prompts/texts.yaml``)."""
    return Path(str(resources.files("ivr_flows") / "prompts" / "texts.yaml"))


def load_catalog(path: str | Path | None = None) -> PromptCatalog:
    p = Path(path) if path is not None else default_texts_path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptTextsError([f"{p}:0: cannot read: {exc.strerror}"]) from exc
    return parse_texts(text, str(p))
