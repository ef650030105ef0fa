"""Mutation fuzzing of the whole signalling path (parser, transactions, dialogs, controller).

Takes every SIP fixture in tests/fixtures/sip as a seed corpus, mutates it (byte flips,
SIP-meaningful insertions, deletions, splices) and feeds it to a CallSwitch on float time,
running timers now and then. Any exception is a bug: it is printed once per distinct
traceback and the offending input saved under --out.

    .venv/bin/python loadtests/fuzz_sip.py --iterations 1000000 --seed 7
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cti_server.call.switch import CallSwitch  # noqa: E402
from cti_server.call.wiring import build_switch  # noqa: E402
from cti_server.config import parse_config  # noqa: E402
from cti_server.ids import IdFactory  # noqa: E402

CONFIG = """
sip: {listen: 127.0.0.1, port: 5060}
accounts: [{user: "1001", password: "x"}]
trunks: [{name: gw, allow_from: [192.0.2.0/24]}]
routes: [{match: '.*', target: 'uri:sip:svc@127.0.0.1:5070'}]
"""
TOKENS = [
    b"\r\n",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b" ",
    b"\t",
    b"\x00",
    b"%",
    b"tag=",
    b"branch=z9hG4bK",
    b"0",
    b"-1",
    b"99999999999",
    b"\r\n ",
    b"\xff",
    b"sip:",
    b"@",
]


def corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted((ROOT / "tests" / "fixtures" / "sip").rglob("*.sip"))]


def new_switch() -> CallSwitch:
    ids = IdFactory(random.Random(1), host="127.0.0.1")
    return build_switch(parse_config(CONFIG, "<fuzz>"), ids, b"f" * 32, random.Random(2))


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randrange(len(data)) if data else 0
        if op < 0.3 and data:
            data[pos] = rng.randrange(256)
        elif op < 0.5:
            data[pos:pos] = rng.choice(TOKENS)
        elif op < 0.7 and data:
            del data[pos : pos + rng.randint(1, 20)]
        else:
            other = rng.choice(seeds)
            start = rng.randrange(len(other))
            data[pos:pos] = other[start : start + rng.randint(1, 60)]
    return bytes(data)


def run(iterations: int, seed: int, out: Path | None = None) -> dict[str, bytes]:
    rng = random.Random(seed)
    seeds = corpus()
    switch = new_switch()
    crashes: dict[str, bytes] = {}
    now = 0.0
    for i in range(iterations):
        data = mutate(rng, seeds)
        now += 0.01
        try:
            switch.receive_datagram(data, ("192.0.2.1", 5060), now)
            switch.datagrams_to_send()
            if i % 50 == 0:
                switch.handle_timer(now + 40)
                switch.datagrams_to_send()
        except Exception:  # noqa: BLE001 - every exception is a finding
            key = "\n".join(traceback.format_exc().strip().splitlines()[-3:])
            if key not in crashes:
                crashes[key] = data
                if out is not None:
                    out.mkdir(parents=True, exist_ok=True)
                    (out / f"crash-{len(crashes)}.sip").write_bytes(data)
            switch = new_switch()
    return crashes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args()
    started = time.perf_counter()
    crashes = run(args.iterations, args.seed, args.out)
    elapsed = time.perf_counter() - started
    for key in crashes:
        print(f"CRASH:\n{key}\n")
    print(
        f"{args.iterations} inputs in {elapsed:.1f} s ({args.iterations / elapsed:.0f}/s), "
        f"{len(crashes)} distinct crashes" + (f", inputs in {args.out}/" if crashes else "")
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
