"""The pricing knapsack: its search finds the most valuable pattern (checked against every
pattern), its per-resource screen agrees with it, and a surrogate hint never changes the answer
about whether a pattern beats the threshold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engines.planner.knapsack import (
    _surrogate_weights,
    _surrogate_weights_highs,
    best_pattern,
    quick_bounds,
)


def _instance(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(1, 7))
    vectors = rng.integers(0, 5, size=(classes, 5))
    vectors[:, 4] = 1  # every pod takes a pod slot
    values = rng.random(classes) * rng.integers(0, 2, classes)  # some classes are worth nothing
    capacity = rng.integers(2, 12, size=5)
    caps = rng.integers(0, 4, classes)
    allowed = np.flatnonzero(rng.random(classes) < 0.85)
    return values, vectors, capacity, allowed, caps


def _best_by_enumeration(values, vectors, capacity, allowed, caps) -> float:
    best = 0.0
    for counts in itertools.product(*(range(int(caps[c]) + 1) for c in allowed)):
        load = sum((n * vectors[c] for c, n in zip(allowed, counts, strict=True)), np.zeros(5, np.int64))
        if np.all(load <= capacity):
            best = max(best, float(sum(n * values[c] for c, n in zip(allowed, counts, strict=True))))
    return best


@pytest.mark.parametrize("seed", range(60))
def test_the_search_finds_the_most_valuable_pattern(seed: int) -> None:
    values, vectors, capacity, allowed, caps = _instance(seed)

    pattern = best_pattern(values, vectors, capacity, allowed, caps, node_limit=10**6)
    expected = _best_by_enumeration(values, vectors, capacity, allowed, caps)

    assert pattern.value == pytest.approx(expected, abs=1e-9)
    load = sum((n * vectors[c] for c, n in pattern.counts.items()), np.zeros(5, np.int64))
    assert np.all(load <= capacity)
    assert all(c in allowed and 0 < n <= caps[c] for c, n in pattern.counts.items())
    assert pattern.upper_bound >= expected - 1e-9


@pytest.mark.parametrize("seed", range(60))
def test_the_screen_matches_the_first_test_of_the_search(seed: int) -> None:
    values, vectors, capacity, allowed, caps = _instance(seed)
    usable = np.zeros((len(values), 1), bool)
    usable[allowed] = True
    usable[:, 0] &= (values > 0) & (caps > 0) & np.all(vectors <= capacity, axis=1)

    bound = float(quick_bounds(values, vectors, capacity[None, :], usable)[0])
    expected = _best_by_enumeration(values, vectors, capacity, allowed, caps)

    assert bound >= expected - 1e-9
    pattern = best_pattern(values, vectors, capacity, allowed, caps, threshold=bound)
    assert not pattern.counts  # nothing beats the screen's bound


@pytest.mark.parametrize("seed", range(60))
def test_a_hint_keeps_the_verdict_on_the_threshold(seed: int) -> None:
    values, vectors, capacity, allowed, caps = _instance(seed)
    threshold = _best_by_enumeration(values, vectors, capacity, allowed, caps) * 0.9
    hint = np.random.default_rng(seed + 1000).random(5)

    plain = best_pattern(values, vectors, capacity, allowed, caps, threshold=threshold)
    hinted = best_pattern(values, vectors, capacity, allowed, caps, threshold=threshold, hint=hint)

    assert bool(hinted.counts) == bool(plain.counts)
    assert hinted.value == pytest.approx(plain.value)


@pytest.mark.parametrize("seed", range(200))
def test_the_tableau_finds_the_lp_relaxation_highs_finds(seed: int) -> None:
    """The surrogate weights come from a small tableau simplex: its bound is HiGHS's LP optimum (no
    looser: the search prunes by it), also where classes repeat and pivots are degenerate."""
    rng = np.random.default_rng(seed)
    classes, dims = int(rng.integers(1, 60)), int(rng.integers(1, 6))
    weights = rng.integers(0, 50, size=(classes, dims)).astype(np.float64)
    weights[weights.sum(axis=1) == 0, 0] = 1.0
    if seed % 3 == 0:
        weights = np.repeat(weights[: max(1, classes // 3)], 3, axis=0)
    values = rng.random(len(weights)) + 1e-3
    capacity = rng.integers(50, 400, size=dims).astype(np.float64)
    surrogate, bound = _surrogate_weights(values, weights, capacity)
    _, lp_optimum = _surrogate_weights_highs(values, weights, capacity)
    assert np.all(surrogate >= 0)
    assert lp_optimum * (1 - 1e-7) <= bound <= lp_optimum * (1 + 1e-7)
