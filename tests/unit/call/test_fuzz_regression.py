"""A bounded slice of loadtests/fuzz_sip.py: the seed that once found a parser crash
(an internal fold exception escaping on a continuation line after unfolding)."""

from __future__ import annotations

from loadtests.fuzz_sip import run


def test_mutated_sip_never_raises_out_of_the_switch() -> None:
    assert run(iterations=4000, seed=1) == {}
