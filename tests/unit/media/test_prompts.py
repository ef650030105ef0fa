"""The prompt catalogue: the shipped texts, file:line errors, number words and slot sequences."""

from __future__ import annotations

import re

import pytest

from cti_server.config import ConfigError
from cti_server.media.prompts import (
    ClipRef,
    PromptCatalog,
    PromptError,
    PromptTextsError,
    default_texts_path,
    load_catalog,
    parse_texts,
    say_number,
)

REQUIRED = [
    "greeting",
    "choose_language",
    "enter_customer_number",
    "enter_national_id",
    "enter_pin",
    "invalid_input",
    "auth_failed",
    "account_locked",
    "please_hold",
    "position_is",
    "estimated_wait",
    "callback_offer",
    "callback_confirmed",
    "leave_message",
    "after_hours",
    "transfer_to_agent",
    "goodbye",
]


@pytest.fixture(scope="module")
def catalog() -> PromptCatalog:
    return load_catalog()


def words(catalog: PromptCatalog, refs: list[ClipRef]) -> str:
    return " ".join(catalog.spec(ref).text for ref in refs)


def test_shipped_texts_have_every_prompt_in_both_languages(catalog: PromptCatalog) -> None:
    assert catalog.languages == ("ko", "en")
    assert set(REQUIRED) <= set(catalog.prompt_ids)
    for pid in REQUIRED:
        slots = {"position_is": {"position": 3}, "estimated_wait": {"minutes": 4}}.get(pid, {})
        for lang in catalog.languages:
            assert catalog.sequence(pid, lang, **slots)


def test_korean_prompts_are_formal_polite(catalog: PromptCatalog) -> None:
    """합쇼체: every Korean sentence ends in -ㅂ니다/-습니다, -ㅂ니까 or -십시오."""
    for spec in catalog.clips(["ko"]):
        if spec.ref.clip.startswith("num_") or spec.ref.clip.endswith("_pre"):
            continue
        for sentence in filter(None, (s.strip() for s in re.split(r"[.?!]", spec.text))):
            assert sentence.endswith(("니다", "니까", "십시오")), (spec.ref, sentence)


def test_greeting_is_one_clip_per_language(catalog: PromptCatalog) -> None:
    assert catalog.sequence("greeting", "ko") == [ClipRef("ko", "greeting")]
    assert catalog.clip_file("greeting", "ko") == "ko/greeting.wav"
    assert catalog.spec(ClipRef("ko", "greeting")).text == "안녕하십니까, 고객센터입니다."
    assert catalog.spec(ClipRef("en", "greeting")).voice == "en-us"


def test_language_menu_plays_both_languages_whatever_the_current_one(
    catalog: PromptCatalog,
) -> None:
    expected = [ClipRef("ko", "choose_language"), ClipRef("en", "choose_language")]
    assert catalog.sequence("choose_language", "en") == expected
    assert catalog.sequence("choose_language", "ko") == expected


def test_position_puts_the_number_inside_the_korean_sentence(catalog: PromptCatalog) -> None:
    refs = catalog.sequence("position_is", "ko", position=23)
    assert [r.clip for r in refs] == ["position_is_pre", "num_20", "num_3", "position_is_post"]
    assert words(catalog, refs) == "고객님의 현재 대기 순번은 이십 삼 번입니다."
    en = catalog.sequence("position_is", "en", position=23)
    assert words(catalog, en) == "You are number twenty three in the queue."


def test_estimated_wait_uses_singular_for_one_minute_in_english(catalog: PromptCatalog) -> None:
    one = catalog.sequence("estimated_wait", "en", minutes=1)
    assert words(catalog, one) == "The estimated waiting time is about one minute."
    many = catalog.sequence("estimated_wait", "en", minutes=105)
    assert words(catalog, many) == ("The estimated waiting time is about one hundred five minutes.")
    ko = catalog.sequence("estimated_wait", "ko", minutes=1)
    assert words(catalog, ko) == "예상 대기 시간은 약 일 분입니다."


KO = {
    0: "영",
    1: "일",
    10: "십",
    11: "십 일",
    20: "이십",
    23: "이십 삼",
    100: "백",
    105: "백 오",
    999: "구백 구십 구",
    1000: "천",
    2024: "이천 이십 사",
}
EN = {
    0: "zero",
    1: "one",
    10: "ten",
    11: "eleven",
    20: "twenty",
    23: "twenty three",
    100: "one hundred",
    105: "one hundred five",
    999: "nine hundred ninety nine",
    1000: "one thousand",
    2024: "two thousand twenty four",
}


@pytest.mark.parametrize(
    ("lang", "n", "spoken"), [("ko", *kv) for kv in KO.items()] + [("en", *kv) for kv in EN.items()]
)
def test_say_number(catalog: PromptCatalog, lang: str, n: int, spoken: str) -> None:
    assert words(catalog, [ClipRef(lang, c) for c in say_number(n, lang)]) == spoken


def test_say_number_clip_ids() -> None:
    assert say_number(23, "ko") == ["num_20", "num_3"]
    assert say_number(23, "en") == ["num_20", "num_3"]
    assert say_number(105, "en") == ["num_1", "num_hundred", "num_5"]


def test_every_number_has_its_clips(catalog: PromptCatalog) -> None:
    have = {spec.ref for spec in catalog.clips()}
    for lang in catalog.languages:
        for n in range(10000):
            assert {ClipRef(lang, c) for c in say_number(n, lang)} <= have, (lang, n)


@pytest.mark.parametrize("bad", [-1, 10000, 2.5, True, "3"])
def test_say_number_rejects(bad: object) -> None:
    with pytest.raises(PromptError, match=r"0\.\.9999"):
        say_number(bad, "ko")  # type: ignore[arg-type]


def test_sequence_errors(catalog: PromptCatalog) -> None:
    with pytest.raises(PromptError, match="unknown prompt 'nope'"):
        catalog.sequence("nope", "ko")
    with pytest.raises(PromptError, match="unknown language 'ja'"):
        catalog.sequence("greeting", "ja")
    with pytest.raises(PromptError, match=r"takes slots \['position'\], got \[\]"):
        catalog.sequence("position_is", "ko")
    with pytest.raises(PromptError, match=r"got \['minutes'\]"):
        catalog.sequence("position_is", "ko", minutes=3)
    with pytest.raises(PromptError, match="several clips"):
        catalog.clip_file("position_is", "ko")
    with pytest.raises(PromptError, match="several clips"):
        catalog.clip_file("choose_language", "ko")
    with pytest.raises(PromptError, match="cannot speak True"):
        catalog.sequence("estimated_wait", "en", minutes=True)  # would pick "one minute"


def test_clip_names_are_safe_file_names(catalog: PromptCatalog) -> None:
    for spec in catalog.clips():
        assert re.fullmatch(r"(ko|en)/[a-z0-9_]+\.wav", spec.ref.path)
    assert len({s.ref for s in catalog.clips()}) == len(catalog.clips())


GOOD = """\
languages:
  ko: {voice: ko}
  en: {voice: en-us, speed: 140}
prompts:
  greeting:
    ko: 안녕하십니까.
    en: Hello.
"""


def test_minimal_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "texts.yaml"
    path.write_text(GOOD, encoding="utf-8")
    catalog = load_catalog(path)
    assert [s.ref.path for s in catalog.clips()] == ["ko/greeting.wav", "en/greeting.wav"]
    assert catalog.spec(ClipRef("en", "greeting")).speed == 140


def errors(text: str) -> list[str]:
    with pytest.raises(PromptTextsError) as info:
        parse_texts(text, "texts.yaml")
    assert isinstance(info.value, ConfigError)
    return info.value.problems


def test_missing_language_points_at_the_prompt() -> None:
    text = GOOD + "  goodbye:\n    ko: 안녕히 계십시오.\n"
    assert errors(text) == ["texts.yaml:8: prompts.goodbye: no text for en"]


def test_bad_slot_points_at_the_text() -> None:
    text = GOOD.replace("en: Hello.", "en: Hello {Name}.")
    assert errors(text) == [
        "texts.yaml:7: prompts.greeting.en: a slot is written {name} with a lower-case name, "
        "e.g. {position}"
    ]


def test_schema_error_points_at_the_field() -> None:
    text = GOOD.replace("speed: 140", "speed: fast")
    (problem,) = errors(text)
    assert problem.startswith("texts.yaml:3: languages.en.speed: Input should be a valid integer")


def test_slot_needs_number_words() -> None:
    text = (
        GOOD
        + "  position_is:\n    ko: 대기 순번은 {position}번입니다.\n    en: You are {position}.\n"
    )
    (ko, en) = errors(text)
    assert ko.startswith("texts.yaml:1: numbers: en: missing number words 0, 1, 2")
    assert en.startswith("texts.yaml:1: numbers: ko: missing number words 0, 1, 2")


def test_slots_must_match_across_languages() -> None:
    text = GOOD + "  wait:\n    ko: 약 {minutes}분입니다.\n    en: About {count} minutes.\n"
    assert "texts.yaml:8: prompts.wait: every language must use the same {slots}" in errors(text)


def test_unknown_field_and_bad_prompt_id() -> None:
    text = GOOD.replace("prompts:", "prompt_list: []\nprompts:").replace("greeting:", "Greet:")
    problems = errors(text)
    assert "texts.yaml:4: prompt_list: Extra inputs are not permitted" in problems
    assert any(
        p.startswith("texts.yaml:6: prompts.Greet.[key]: String should match") for p in problems
    )


def test_yaml_syntax_error_has_a_line() -> None:
    text = GOOD.replace("    en: Hello.", "    en: Hello: there")
    assert errors(text) == ["texts.yaml:7: YAML syntax: mapping values are not allowed here"]


def test_clip_name_clash_is_reported() -> None:
    shipped = default_texts_path().read_text(encoding="utf-8")
    numbers = shipped[shipped.index("\nnumbers:") :]
    text = GOOD.replace("greeting:", "wait_pre:") + (
        "  wait:\n    ko: 약 {minutes}분\n    en: about {minutes}\n" + numbers
    )
    assert errors(text) == [
        "texts.yaml:8: prompts.wait: clip ko/wait_pre.wav is already made by another prompt; "
        "rename one of them"
    ]


def test_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptTextsError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")


def test_default_path_is_the_packaged_file() -> None:
    assert default_texts_path().name == "texts.yaml"
    assert default_texts_path().parent.name == "prompts"
