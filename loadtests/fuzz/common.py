"""What every harness shares: the atheris entry point, seed corpora and the error contract.

``fuzz_main`` is each target's ``__main__``: it writes the target's seeds (from the fixtures
the tests use) into a seed directory, adds it to libFuzzer's corpus directories, writes the
target's dictionary for ``-dict=``, sets ``-max_len`` and starts atheris. Given a file instead
of a directory, libFuzzer runs it once: ``python -m loadtests.fuzz.sdp_body crash-1234``
reproduces a crash.

Nothing here imports the code under test: a harness imports it inside
``atheris.instrument_imports`` so that its branches feed coverage back to libFuzzer.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SIPP_PCAPS = Path("/usr/share/sip-tester")

Mutator = Callable[[bytes, int, int], bytes]

# Strings that break naive numeric or text handling, for dictionaries and mutators: Unicode
# digits (str.isdigit() is True, int() refuses some), huge and special numbers, controls.
TRICKY_TEXT: tuple[str, ...] = (
    "²",
    "٣",
    "½",
    "\U0001d7d7",  # MATHEMATICAL BOLD DIGIT NINE
    "4294967296",
    "99999999999999999999",
    "-1",
    "1e999",
    "inf",
    "nan",
    "\x00",
    "\t",
    "\r",
    "\u2028",
    "\udcff",
)


def fuzz_main(
    name: str,
    test_one_input: Callable[[bytes], None],
    seeds: Iterable[bytes],
    *,
    max_len: int,
    dictionary: Sequence[bytes] = (),
    custom_mutator: Mutator | None = None,
) -> None:
    """Run one target under libFuzzer with its seeds; our one flag is ``--seed-dir=DIR``."""
    argv = [_self_command()]
    seed_dir: Path | None = None
    for arg in sys.argv[1:]:
        if arg.startswith("--seed-dir="):
            seed_dir = Path(arg.split("=", 1)[1])
        else:
            argv.append(arg)
    if seed_dir is None:
        seed_dir = Path(tempfile.gettempdir()) / f"cti-fuzz-seeds-{name}"
    write_corpus(seed_dir, seeds)
    positional = [a for a in argv[1:] if not a.startswith("-")]
    if all(Path(p).is_dir() for p in positional):  # not reproducing given crash files
        argv.append(str(seed_dir))
    if dictionary and not any(a.startswith("-dict=") for a in argv):
        dict_path = seed_dir.with_name(seed_dir.name + ".dict")
        dict_path.write_text(format_dictionary(dictionary), encoding="ascii")
        argv.append(f"-dict={dict_path}")
    if not any(a.startswith("-max_len=") for a in argv):
        argv.append(f"-max_len={max_len}")
    if custom_mutator is None:
        atheris.Setup(argv, test_one_input)
    else:
        atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


def _self_command() -> str:
    """How libFuzzer starts this target again (-minimize_crash, -merge, -fork run argv[0]
    through the shell): the same interpreter and module, from any directory."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        return sys.argv[0]
    paths = [*filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)), str(ROOT)]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return f"{shlex.quote(sys.executable)} -m {spec.name}"


def write_corpus(directory: Path, inputs: Iterable[bytes]) -> int:
    """One file per distinct input, named by its SHA-1 as libFuzzer names its own."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for data in inputs:
        path = directory / hashlib.sha1(data).hexdigest()
        if not path.exists():
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: another run may be reading the directory
            count += 1
    return count


def format_dictionary(tokens: Sequence[bytes]) -> str:
    """libFuzzer's dictionary format: one quoted token a line, non-printables as ``\\xNN``."""
    lines = []
    for token in tokens:
        text = "".join(
            chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in token
        )
        lines.append(f'"{text}"')
    return "\n".join(lines) + "\n"


YAML_TOKENS: tuple[str, ...] = (
    "- ",
    ": ",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "|\n",
    ">-\n",
    "'",
    '"',
    "#",
    "\n  ",
    "---\n",
    "...\n",
    "~",
    "null",
    "true",
    "no",
    ".inf",
    ".nan",
    "0x1F",
    "0o17",
    "1_000",
    "2026-01-01",
)


def tricky_tokens() -> list[bytes]:
    return [t.encode("utf-8", "surrogateescape") for t in TRICKY_TEXT]


def sip_fixtures() -> list[bytes]:
    """Every SIP message the parser tests use (RFC 4475 torture tests, SIPp, pyVoIP)."""
    return [p.read_bytes() for p in sorted((FIXTURES / "sip").rglob("*.sip"))]


def string_constants(paths: Iterable[Path], pattern: str) -> list[str]:
    """String literals of Python sources that match ``pattern`` (test inputs as seeds)."""
    wanted = re.compile(pattern)
    found: list[str] = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                value = node.value
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                if wanted.search(text):
                    found.append(text)
    return found


def check_problems(problems: Sequence[str], filename: str) -> None:
    """``ConfigError``'s contract: at least one problem, each ``file:line: reason``."""
    if not problems:
        raise AssertionError("ConfigError without problems")
    prefix = re.compile(re.escape(filename) + r":\d+: ")
    for problem in problems:
        if not prefix.match(problem):
            raise AssertionError(f"problem not in file:line: form: {problem[:200]!r}")
