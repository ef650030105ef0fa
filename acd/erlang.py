"""Erlang C and Erlang A: what queueing theory predicts for a staffing level (pure math).

Both models see one queue served FIFO by ``agents`` identical agents, Poisson arrivals at
``arrival_rate`` calls per second and exponential handle times of mean ``handle_time``
seconds (talk plus wrap-up: the time an agent cannot take another call). The offered load
is ``A = arrival_rate * handle_time`` Erlangs.

Erlang C (M/M/N) has infinitely patient callers: everybody is answered eventually, and only
when ``A < agents`` (otherwise the queue grows without bound: ``stable`` is False)::

    B(N, A) = Erlang B, by the recursion B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1))
    C(N, A) = B / (1 - (A/N) (1 - B))                           P(wait)
    ASA     = C * AHT / (N - A)                                 mean wait of answered calls
    SL(T)   = 1 - C * exp(-(N - A) T / AHT)                     answered within T / offered

Erlang A (M/M/N+M, Palm's model) adds exponential patience of mean ``patience``: a waiting
caller hangs up at rate ``theta = 1 / patience``. It is solved here as the birth-death chain
of the number of calls in the system, ``n``: births at ``arrival_rate``, deaths at
``min(n, N) mu + max(n - N, 0) theta``; the chain is truncated where its stationary terms
fall below 1e-16 of their sum (the abandonment term makes them fall geometrically in any
load), so the truncation error is below that. The ratios are built by recursion with
rescaling, never as factorials, so it is stable for hundreds of agents. A caller who arrives
(PASTA: arrivals see the stationary law) with ``j`` callers already waiting is answered when
``j + 1`` advances happen before its own patience runs out; with ``i`` callers ahead, the
line advances at ``r_i = N mu + i theta`` (a service completion or an abandonment ahead), so::

    P(answered | j) = prod_{i=0..j} r_i / (r_i + theta)
    wait | answered = sum_{i=0..j} Exp(r_i + theta)              (independent stages)

which gives the ASA in closed form and the service level (answered within T / offered) as
a hypoexponential distribution, evaluated by uniformization (Poisson-weighted jumps of the
chain, all terms positive: no cancellation). ``P(abandon) = theta E[Lq] / arrival_rate``
(the abandonment flow over the arrival flow) must equal ``1 - P(answered)``: the tests check
both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

_TAIL: Final = 1e-16  # stationary terms below this share of the sum are dropped
_MAX_STATES: Final = 200_000
_RESCALE: Final = 1e200


@dataclass(frozen=True, slots=True)
class ErlangResult:
    """One model's prediction; ``service_level`` counts answered within ``threshold`` over
    offered (abandons included in the denominator), ``asa`` averages answered calls only."""

    model: str  # "erlang_c" | "erlang_a"
    agents: int
    arrival_rate: float  # calls per second
    handle_time: float
    patience: float | None
    threshold: float
    stable: bool  # Erlang C: load < agents; Erlang A: always
    p_wait: float  # an arriving call finds every agent busy
    p_abandon: float
    answer_rate: float  # answered / offered
    asa: float  # mean wait of answered calls (inf when unstable)
    mean_wait: float  # mean time in queue of every caller, answered or not
    service_level: float  # answered within threshold / offered
    occupancy: float  # carried load / agents

    @property
    def load(self) -> float:
        return self.arrival_rate * self.handle_time


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of N servers with no queue (stable recursion)."""
    if agents < 0 or load < 0:
        raise ValueError("agents and load must be >= 0")
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits (1.0 when the load reaches the agents)."""
    if agents <= 0 or load >= agents:
        return 1.0
    if load <= 0:
        return 0.0
    b = erlang_b(agents, load)
    return b / (1.0 - (load / agents) * (1.0 - b))


def erlang_c_metrics(
    agents: int, arrival_rate: float, handle_time: float, threshold: float = 20.0
) -> ErlangResult:
    _check(agents, arrival_rate, handle_time)
    load = arrival_rate * handle_time
    stable = load < agents
    p_wait = erlang_c(agents, load)
    if stable:
        asa = p_wait * handle_time / (agents - load) if p_wait else 0.0
        sl = 1.0 - p_wait * math.exp(-(agents - load) * threshold / handle_time)
        occupancy = load / agents
    else:
        asa, sl, occupancy = math.inf, 0.0, 1.0
    return ErlangResult(
        model="erlang_c",
        agents=agents,
        arrival_rate=arrival_rate,
        handle_time=handle_time,
        patience=None,
        threshold=threshold,
        stable=stable,
        p_wait=p_wait,
        p_abandon=0.0,
        answer_rate=1.0,
        asa=asa,
        mean_wait=asa,
        service_level=sl,
        occupancy=occupancy,
    )


def erlang_a_metrics(
    agents: int,
    arrival_rate: float,
    handle_time: float,
    patience: float | None,
    threshold: float = 20.0,
) -> ErlangResult:
    """Erlang A; ``patience`` None or infinite is Erlang C."""
    if patience is None or math.isinf(patience):
        return erlang_c_metrics(agents, arrival_rate, handle_time, threshold)
    _check(agents, arrival_rate, handle_time)
    if patience <= 0:
        raise ValueError("patience must be > 0")
    mu, theta = 1.0 / handle_time, 1.0 / patience
    pi = _stationary(agents, arrival_rate, mu, theta)
    n_agents = agents
    p_wait = math.fsum(pi[n_agents:])
    lq = math.fsum(j * p for j, p in enumerate(pi[n_agents:]))
    busy = math.fsum(min(n, n_agents) * p for n, p in enumerate(pi))
    # Callers who find j others waiting: their chance and mean wait when answered.
    served = [0.0] * max(len(pi) - n_agents, 0)
    wait_sum = 0.0
    p_served, stage_time = 1.0, 0.0
    for j in range(len(served)):
        rate = n_agents * mu + (j + 1) * theta  # r_j + theta
        p_served *= (rate - theta) / rate
        stage_time += 1.0 / rate
        served[j] = pi[n_agents + j] * p_served
        wait_sum += served[j] * stage_time
    answered = math.fsum(pi[:n_agents]) + math.fsum(served)
    in_time = math.fsum(pi[:n_agents]) + _hypoexponential_mass(
        served, n_agents * mu, theta, threshold
    )
    return ErlangResult(
        model="erlang_a",
        agents=agents,
        arrival_rate=arrival_rate,
        handle_time=handle_time,
        patience=patience,
        threshold=threshold,
        stable=True,
        p_wait=p_wait,
        p_abandon=theta * lq / arrival_rate if arrival_rate else 0.0,
        answer_rate=answered,
        asa=wait_sum / answered if answered else 0.0,
        mean_wait=lq / arrival_rate if arrival_rate else 0.0,
        service_level=in_time,
        occupancy=busy / agents if agents else 1.0,
    )


def _check(agents: int, arrival_rate: float, handle_time: float) -> None:
    if agents < 0 or arrival_rate < 0 or handle_time <= 0:
        raise ValueError("need agents >= 0, arrival_rate >= 0 and handle_time > 0")


def _stationary(agents: int, lam: float, mu: float, theta: float) -> list[float]:
    """Normalized stationary law of the Erlang A chain, truncated past a negligible tail."""
    terms = [1.0]
    total = 1.0
    n = 0
    while n < _MAX_STATES:
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        term = terms[-1] * lam / death
        terms.append(term)
        total += term
        if total > _RESCALE:
            terms = [t / _RESCALE for t in terms]
            total /= _RESCALE
            term /= _RESCALE
        if n > agents and lam < death and term < _TAIL * total:
            break
    return [t / total for t in terms]


def _hypoexponential_mass(served: list[float], base: float, theta: float, t: float) -> float:
    """Sum over j of ``served[j] * P(sum_{i=0..j} Exp(base + (i+1) theta) <= t)``.

    Uniformization at the largest stage rate: each jump moves a stage's mass one stage on
    with probability rate/Lambda; the mass absorbed after k jumps is weighted by the Poisson
    probability of k jumps in ``t``. Negligible high stages are cut first to keep Lambda low.
    """
    total = math.fsum(served)
    if total <= 0 or t <= 0:
        return 0.0
    last = len(served)
    while last > 1 and served[last - 1] < _TAIL * total:
        last -= 1
    mass = served[:last]
    rates = [base + (i + 1) * theta for i in range(last)]
    big = rates[-1]
    advance = [r / big for r in rates]
    lt = big * t
    absorbed = 0.0
    result = 0.0
    log_lt = math.log(lt)
    cumulative = 0.0
    k = 0
    while True:
        weight = math.exp(-lt + k * log_lt - math.lgamma(k + 1))
        result += weight * absorbed
        cumulative += weight
        if (cumulative > 1.0 - 1e-13 and k > lt) or k > lt + 50 * math.sqrt(lt) + 50:
            break
        absorbed += mass[0] * advance[0]  # stage 0 advances into service
        moved = [m * a for m, a in zip(mass, advance, strict=True)]
        mass = [m - mv for m, mv in zip(mass, moved, strict=True)]
        for i in range(1, last):
            mass[i - 1] += moved[i]
        k += 1
    return result + (1.0 - cumulative) * absorbed
