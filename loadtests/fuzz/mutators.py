"""Structure-aware mutators: line-based text (SIP, SDP) and YAML trees (config, IVR flows).

libFuzzer's byte mutations rarely keep a YAML document parseable or move a whole SIP header,
so these mutators work on the structure most of the time and hand the rest to
``atheris.Mutate`` (libFuzzer's own mutations, dictionary included). They are deterministic in
the ``seed`` libFuzzer passes, and never fail: an input they cannot read is mutated as bytes.
"""

from __future__ import annotations

import copy
import datetime
import random
from collections.abc import Sequence
from typing import Any

import atheris
import yaml

from loadtests.fuzz.common import TRICKY_TEXT


class LineMutator:
    """Insert, drop, repeat, swap and rewrite whole lines, borrowing lines from the seeds."""

    def __init__(self, seeds: Sequence[bytes], tokens: Sequence[bytes], byte_share: float = 0.5):
        self._lines = sorted({ln.rstrip(b"\r") for s in seeds for ln in s.split(b"\n") if ln})
        self._tokens = list(tokens) or [b""]
        self._byte_share = byte_share

    def __call__(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if not data or rng.random() < self._byte_share:
            return atheris.Mutate(data, max_size)
        eol = b"\r\n" if b"\r\n" in data else b"\n"
        lines = data.split(eol)
        for _ in range(rng.randint(1, 3)):
            self._one(lines, rng)
        out = eol.join(lines)
        return out if len(out) <= max_size else atheris.Mutate(data, max_size)

    def _one(self, lines: list[bytes], rng: random.Random) -> None:
        i = rng.randrange(len(lines))
        op = rng.randrange(7)
        if op == 0:
            lines.insert(i, rng.choice(self._lines))
        elif op == 1 and len(lines) > 1:
            del lines[i]
        elif op == 2:
            lines.insert(i, lines[i])
        elif op == 3:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 4:  # keep the name, replace the value
            line = lines[i]
            cuts = [c for c in (line.find(b":"), line.find(b"=")) if c >= 0]
            cut = min(cuts) if cuts else -1
            lines[i] = line[: cut + 1] + rng.choice(self._tokens)
        elif op == 5:
            line = lines[i]
            at = rng.randint(0, len(line))
            lines[i] = line[:at] + rng.choice(self._tokens) + line[at:]
        else:
            lines[i] = atheris.Mutate(lines[i], len(lines[i]) + 32)


# libyaml when built in: the mutator should not cost as much as the target's pure-Python load.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_INTERESTING: tuple[Any, ...] = (
    0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**63, -(2**63), 10**30,
    0.0, -0.0, 0.5, 1e-9, 1e308, float("inf"), float("-inf"), float("nan"),
    True, False, None, "", " ", "0", "a" * 300, "é", "김", "${x}", "${", "*", "#", ":",
    "2026-13-01", "24:00", "99:99", [], {}, [None], {"": None},
    datetime.date(2026, 1, 1), datetime.datetime(2026, 1, 1, 12, 0),
    *(t for t in TRICKY_TEXT if not 0xD800 <= ord(t[0]) <= 0xDFFF),
)  # fmt: skip


class YamlMutator:
    """Edit the data tree of a YAML document and dump it again.

    Edits: set a value to an interesting or seen scalar, mutate a string's bytes, nudge a
    number, delete or duplicate an entry, add a key known from the seeds or the schema, rename
    a key, graft another subtree (sometimes by reference, which dumps as an anchor and alias),
    wrap a value in a list or mapping.
    """

    def __init__(
        self, seeds: Sequence[bytes], vocabulary: Sequence[str] = (), byte_share: float = 0.2
    ):
        self._trees = [t for t in map(_load, seeds) if isinstance(t, dict | list)]
        keys: set[str] = set(vocabulary)
        scalars: list[Any] = list(_INTERESTING)
        for tree in self._trees:
            for parent, key in _slots(tree):
                if isinstance(parent, dict) and isinstance(key, str):
                    keys.add(key)
                value = parent[key]
                if not isinstance(value, dict | list) and value not in scalars:
                    scalars.append(value)
        self._keys = sorted(keys) or ["x"]
        self._scalars = scalars
        self._byte_share = byte_share

    def __call__(self, data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < self._byte_share or not self._trees:
            return atheris.Mutate(data, max_size)
        tree = _load(data)
        if not isinstance(tree, dict | list):
            tree = copy.deepcopy(rng.choice(self._trees))
        for _ in range(rng.randint(1, 4)):
            self._edit(tree, rng)
        try:
            out = yaml.dump(
                tree, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=4096
            ).encode()
        except Exception:  # noqa: BLE001 - a mutator must not fail: mutate the bytes instead
            return atheris.Mutate(data, max_size)
        return out if len(out) <= max_size else atheris.Mutate(data, max_size)

    def _edit(self, tree: Any, rng: random.Random) -> None:
        slots = _slots(tree)
        if not slots:
            if isinstance(tree, dict):
                tree[rng.choice(self._keys)] = self._value(rng, tree)
            else:
                tree.append(self._value(rng, tree))
            return
        parent, key = rng.choice(slots)
        value = parent[key]
        op = rng.randrange(10)
        if op == 0:
            parent[key] = self._value(rng, tree)
        elif op == 1 and isinstance(value, str):
            raw = atheris.Mutate(value.encode(), len(value.encode()) + 16)
            parent[key] = raw.decode("utf-8", "replace")
        elif op == 2 and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = rng.choice((value + 1, value - 1, -value, value * 2, value * 1000))
        elif op == 3:
            del parent[key]
        elif op == 4 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(value))
        elif op == 5 and isinstance(parent, dict):
            parent[rng.choice(self._keys)] = self._value(rng, tree)
        elif op == 6 and isinstance(parent, dict):
            new_key = rng.choice(self._keys) if rng.random() < 0.7 else rng.choice(_INTERESTING)
            if isinstance(new_key, dict | list):
                new_key = str(new_key)
            del parent[key]
            parent[new_key] = value
        elif op == 7:
            other_parent, other_key = rng.choice(slots)
            graft = other_parent[other_key]
            parent[key] = graft if rng.random() < 0.3 else copy.deepcopy(graft)
        elif op == 8:
            parent[key] = [value] if rng.random() < 0.5 else {rng.choice(self._keys): value}
        else:
            parent[key] = copy.deepcopy(rng.choice(self._scalars))

    def _value(self, rng: random.Random, tree: Any) -> Any:
        if rng.random() < 0.3 and self._trees:
            donor = rng.choice(self._trees)
            slots = _slots(donor)
            if slots:
                parent, key = rng.choice(slots)
                return copy.deepcopy(parent[key])
        return copy.deepcopy(rng.choice(self._scalars))


def _load(data: bytes) -> Any:
    try:
        return yaml.load(data, Loader=_LOADER)
    except Exception:  # noqa: BLE001 - PyYAML raises IndexError, KeyError... on odd tags
        return None


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) of every value below ``tree``, each container once."""
    out: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            out.append((node, key))
            child = node[key]
            if isinstance(child, dict | list):
                stack.append(child)
        if len(out) > 5000:
            break
    return out
