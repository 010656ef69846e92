"""ApproximateTimePairer: tables of arrival sequences -> expected pairs and drop counters."""

from __future__ import annotations

import random

import pytest

from fusion_core.errors import ConfigError
from fusion_core.pairing import DROP_REASONS, ApproximateTimePairer

MS = 1_000_000  # ns per millisecond


def run(events: list[tuple[int, int]], queue_size: int = 5, slop: float = 0.010) -> tuple[list[tuple[str, str]], ApproximateTimePairer]:
    """Feed (input, stamp in ms) events in order; items are labels like 'T10' / 'V12'; returns the pairs."""
    pairer: ApproximateTimePairer[str] = ApproximateTimePairer(queue_size, slop)
    pairs = []
    for index, ms in events:
        pairs += pairer.add(index, ms * MS, f"{'TV'[index]}{ms}")
    return pairs, pairer


def check_balance(pairer: ApproximateTimePairer) -> None:
    for i in (0, 1):
        assert pairer.stats.received[i] == pairer.stats.emitted + pairer.stats.dropped_total(i) + len(pairer.pending(i))


T, V = 0, 1

# (name, events, queue_size, slop s, expected pairs, expected non-zero drops {(input, reason): n}, pending (T, V) in ms)
CASES = [
    ("exact stamps", [(T, 0), (V, 0), (T, 100), (V, 100)], 5, 0.0, [("T0", "V0"), ("T100", "V100")], {}, ([], [])),
    ("jitter within slop", [(T, 0), (V, 4), (V, 98), (T, 103)], 5, 0.010, [("T0", "V4"), ("T103", "V98")], {}, ([], [])),
    ("slop is inclusive", [(T, 0), (V, 10)], 5, 0.010, [("T0", "V10")], {}, ([], [])),
    ("just outside slop waits", [(T, 0), (V, 11)], 5, 0.010, [], {}, ([0], [11])),
    ("nearest partner wins", [(T, 0), (T, 6), (V, 8)], 5, 0.010, [("T6", "V8")], {(T, "superseded"): 1}, ([], [])),
    ("tie goes to the older stamp", [(T, 0), (T, 10), (V, 5)], 5, 0.010, [("T0", "V5")], {}, ([10], [])),
    ("greedy: first partner in slop, no waiting", [(T, 0), (V, 8), (T, 9)], 5, 0.010, [("T0", "V8")], {}, ([9], [])),
    ("mixed rates 2:1", [(T, 0), (V, 2), (T, 50), (T, 100), (V, 103), (T, 150), (T, 200), (V, 199)], 5, 0.010,
     [("T0", "V2"), ("T100", "V103"), ("T200", "V199")], {(T, "superseded"): 2}, ([], [])),
    ("queue pruned to queue_size (oldest out)", [(T, 0), (T, 100), (T, 200), (V, 1)], 2, 0.010, [],
     {(T, "queue_full"): 1}, ([100, 200], [1])),
    ("pruned item was the one that would pair", [(V, 0), (V, 100), (V, 200), (T, 1)], 2, 0.010, [],
     {(V, "queue_full"): 1}, ([1], [100, 200])),
    ("new item that is oldest is pruned itself", [(T, 100), (T, 200), (T, 50), (V, 50)], 2, 0.010, [],
     {(T, "queue_full"): 1}, ([100, 200], [50])),
    ("late item after an emitted pair", [(T, 100), (V, 100), (T, 90), (V, 100), (T, 200), (V, 201)], 5, 0.010,
     [("T100", "V100"), ("T200", "V201")], {(T, "late"): 1, (V, "late"): 1}, ([], [])),
    ("duplicate stamp replaces", [(T, 0), (T, 0), (V, 1)], 5, 0.010, [("T0", "V1")], {(T, "duplicate"): 1}, ([], [])),
    ("older unpaired on both inputs superseded", [(T, 0), (V, 40), (T, 80), (V, 120), (T, 200), (V, 205)], 5, 0.010,
     [("T200", "V205")], {(T, "superseded"): 2, (V, "superseded"): 2}, ([], [])),
    ("visible first then thermal", [(V, 0), (T, 3), (V, 33), (V, 66), (T, 70)], 5, 0.005,
     [("T3", "V0"), ("T70", "V66")], {(V, "superseded"): 1}, ([], [])),
    ("newer items survive an emission", [(T, 0), (T, 30), (V, 2)], 5, 0.010, [("T0", "V2")], {}, ([30], [])),
]


@pytest.mark.parametrize("name,events,queue_size,slop,expected,drops,pending", CASES, ids=[c[0] for c in CASES])
def test_pairing_table(name, events, queue_size, slop, expected, drops, pending) -> None:
    pairs, pairer = run(events, queue_size, slop)
    assert pairs == expected
    assert pairer.stats.emitted == len(expected)
    for i in (0, 1):
        for reason in DROP_REASONS:
            assert pairer.stats.dropped[i][reason] == drops.get((i, reason), 0), (i, reason)
        assert pairer.pending(i) == [ms * MS for ms in pending[i]]
    check_balance(pairer)


def test_flush_counts_waiting_items() -> None:
    _, pairer = run([(T, 0), (T, 100), (V, 300)])
    assert pairer.flush() == 3
    assert pairer.stats.dropped[T]["flushed"] == 2 and pairer.stats.dropped[V]["flushed"] == 1
    assert pairer.pending(0) == [] and pairer.pending(1) == []
    check_balance(pairer)


def test_stats_as_dict() -> None:
    _, pairer = run([(T, 0), (V, 1), (T, 50)])
    d = pairer.stats.as_dict()
    assert d["emitted"] == 1 and d["received"] == [2, 1]
    assert d["dropped"][0] == dict.fromkeys(DROP_REASONS, 0)


def test_deterministic_and_monotonic_on_random_streams() -> None:
    """Jittered 30 Hz thermal vs 10 Hz visible: same input -> same output; pairs in time order, within slop."""
    rng = random.Random(7)
    events = [(T, k * 100 // 3 + rng.randint(-3, 3)) for k in range(60)] + [(V, 100 * k + rng.randint(-3, 3)) for k in range(20)]
    events.sort(key=lambda e: (e[1], e[0]))
    pairs_a, pairer = run(events, queue_size=4, slop=0.008)
    pairs_b, _ = run(events, queue_size=4, slop=0.008)
    assert pairs_a == pairs_b
    stamps = [(int(t[1:]), int(v[1:])) for t, v in pairs_a]
    assert all(abs(t - v) <= 8 for t, v in stamps)
    assert stamps == sorted(stamps) and len({s[0] for s in stamps}) == len(stamps)
    assert len(pairs_a) == 20  # every visible frame has its thermal frame within 6 ms, the next one >= 27 ms away
    check_balance(pairer)


@pytest.mark.parametrize(
    "queue_size,slop,message",
    [(0, 0.01, "queue_size must be an integer >= 1, got 0"), (2.5, 0.01, "queue_size must be an integer >= 1"),
     (True, 0.01, "queue_size"), (3, -0.1, "slop must be >= 0 seconds, got -0.1"), (3, float("nan"), "slop must be >= 0")],
)
def test_bad_settings(queue_size, slop, message) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        ApproximateTimePairer(queue_size, slop)


def test_bad_index() -> None:
    with pytest.raises(ValueError, match="index must be 0 or 1, got 2"):
        ApproximateTimePairer(2, 0.01).add(2, 0, "x")


def test_reset_drops_waiting_items_and_lets_older_stamps_pair_again() -> None:
    pairer: ApproximateTimePairer[str] = ApproximateTimePairer(5, 0.010)
    S = 1_000_000_000
    assert pairer.add(T, 10 * S, "t10") == []
    assert pairer.add(V, 10 * S, "v10") == [("t10", "v10")]
    assert pairer.add(T, 11 * S, "t11") == []
    assert pairer.add(T, 1 * S, "t1") == []  # stamps jumped back: late until the reset
    assert pairer.stats.dropped[T]["late"] == 1
    assert pairer.reset() == 1  # t11 was waiting
    assert pairer.stats.dropped[T]["reset"] == 1 and pairer.pending(T) == [] and pairer.pending(V) == []
    assert pairer.add(T, 1 * S, "t1") == []
    assert pairer.add(V, 1 * S, "v1") == [("t1", "v1")]
    check_balance(pairer)
