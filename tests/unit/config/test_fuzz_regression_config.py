"""Crashes the ``config`` fuzz target found (loadtests/fuzz/config_file.py), as regression tests.

A config that is not UTF-8 raised UnicodeDecodeError from ``load_config``; a YAML value PyYAML
cannot build raised ValueError (the date 2026-00-01) or IndexError (``!!int`` with no digits)
from ``parse_config``, and so did the escape "\\U8001D7D7" (OverflowError from PyYAML's
scanner). Each is now a ``ConfigError`` whose problems read ``file:line: reason``.
The other tags are the same fault (PyYAML's constructors raise KeyError, AttributeError) and
so is nesting past Python's recursion limit, which PyYAML's composer reaches first.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cti_server.config import ConfigError, load_config, parse_config

NOT_UTF8 = b"\xff"
BAD_DATE = b"2026-00-01: null\n"
EMPTY_INT_TAG = (
    b"!!int :\n"
    b"- queue:express\n"
    b"- suppinterort\n"
)  # fmt: skip
ESCAPE_PAST_UNICODE = (
    b"accounts:\n"
    b"- user: MD5\n"
    b"- {}\n"
    b"acd: 0\n"
    b"routes: \"\\U8001D7D7\"\n"
    b"'#': ${\n"
    b"fail \"\\U0001D70.0.0.0\n"
)  # fmt: skip


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "cti.yaml")
    assert all(re.match(r"cti\.yaml:\d+: ", p) for p in caught.value.problems)
    return caught.value.problems


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "cti.yaml"
    path.write_bytes(NOT_UTF8)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}:0: cannot read: not UTF-8 text"]


def test_a_date_that_does_not_exist_is_a_config_error() -> None:
    assert _problems(BAD_DATE.decode()) == ["cti.yaml:1: YAML value: month must be in 1..12"]


@pytest.mark.parametrize(
    "text",
    [
        EMPTY_INT_TAG.decode(),
        ESCAPE_PAST_UNICODE.decode(),
        'user_agent: "\\U00110000"',
        "sip: {port: !!int }",
        "sip: {port: !!float }",
        "http: {port: !!bool maybe}",
        "data_dir: !!timestamp soon",
        "[" * 1000 + "]" * 1000,
    ],
    ids=["int-tag", "escape-overflow", "escape-range", "int", "float", "bool", "timestamp", "deep"],
)
def test_values_pyyaml_cannot_build_are_config_errors(text: str) -> None:
    (problem,) = _problems(text)
    assert problem.startswith("cti.yaml:1: YAML value: ")


@pytest.mark.parametrize(
    "pattern", ["a{4294967296}", "(" * 1200 + ")" * 1200], ids=["repeat", "nesting"]
)
def test_a_route_pattern_re_cannot_compile_is_a_config_error(pattern: str) -> None:
    """Same fault, found by hand while fixing the above: ``re.compile`` raises OverflowError
    and RecursionError besides ``re.error``, and the validator caught only ``re.error``."""
    (problem,) = _problems(f"routes: [{{match: '{pattern}', target: 'uri:sip:x@h'}}]")
    assert problem.startswith("cti.yaml:1: routes.0.match: match ")


def test_a_tls_key_path_too_long_for_the_file_system_is_a_config_error() -> None:
    """Found by the fuzzer (input ``http: {port: 8442, tls: {cert: ..., key: aaa...}}``):
    ``Path.exists()`` ignores ENOENT but raises ENAMETOOLONG. Fix (reported): in
    ``tls_files._read`` turn an OSError of ``exists()``/``is_file()`` into the ValueError it
    raises for a missing file; then drop this marker and the harness's ``KNOWN_UNFIXED``."""
    problems = _problems(f"http: {{tls: {{cert: /nonexistent/c.pem, key: {'a' * 300}}}}}")
    assert any(p.startswith("cti.yaml:1: http.tls.key: ") for p in problems)
