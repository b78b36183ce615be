"""The simulated cloud's timers: callbacks at simulated times, and `held`, the test facility that
defers them over a few steps of a test (the simulated cloud itself never holds them)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from simulator.clock import ManualClock
from simulator.cloud.timers import Timers


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def timers(clock: ManualClock) -> Timers:
    return Timers(clock)


def _recorder(ran: list[str], name: str) -> Callable[[], None]:
    return lambda: ran.append(name)


def test_a_callback_runs_once_its_time_has_come(clock: ManualClock, timers: Timers) -> None:
    ran: list[str] = []
    timers.call_at(clock.now() + 120, _recorder(ran, "terminate"))
    assert timers.run_due() == 0 and ran == []
    clock.advance(120)
    assert timers.run_due() == 1 and ran == ["terminate"]
    assert timers.pending() == 0


def test_a_callback_due_while_held_waits_for_the_release(clock: ManualClock, timers: Timers) -> None:
    ran: list[str] = []
    timers.call_at(clock.now() + 120, _recorder(ran, "terminate"))
    with timers.held():
        clock.advance(300)
        assert timers.run_due() == 0
        assert ran == [] and timers.pending() == 1 and timers.is_held
    # Released: what fell due meanwhile ran before `held` returned.
    assert ran == ["terminate"] and timers.pending() == 0 and not timers.is_held


def test_the_release_runs_what_is_due_in_time_order_and_keeps_the_rest(
    clock: ManualClock, timers: Timers
) -> None:
    ran: list[str] = []
    start = clock.now()
    timers.call_at(start + 20, _recorder(ran, "second"))
    timers.call_at(start + 10, _recorder(ran, "first"))
    timers.call_at(start + 600, _recorder(ran, "later"))
    with timers.held():
        clock.advance(60)
    assert ran == ["first", "second"] and timers.pending() == 1


def test_holds_nest_and_only_the_outermost_release_runs_callbacks(clock: ManualClock, timers: Timers) -> None:
    ran: list[str] = []
    timers.call_at(clock.now() + 1, _recorder(ran, "due"))
    with timers.held():
        with timers.held():
            clock.advance(5)
        assert ran == [] and timers.run_due() == 0 and timers.is_held
    assert ran == ["due"]


def test_a_hold_left_by_an_error_is_released(clock: ManualClock, timers: Timers) -> None:
    ran: list[str] = []
    timers.call_at(clock.now() + 1, _recorder(ran, "due"))
    with pytest.raises(RuntimeError), timers.held():
        clock.advance(5)
        raise RuntimeError("the test's step failed")
    assert ran == ["due"] and not timers.is_held


@pytest.fixture
def started(timers: Timers) -> Iterator[Timers]:
    timers.start()
    yield timers
    timers.stop()


def test_the_timer_loop_runs_nothing_while_held_and_what_was_due_on_release(
    clock: ManualClock, started: Timers
) -> None:
    ran = threading.Event()
    started.call_at(clock.now() + 120, ran.set)
    with started.held():
        clock.advance(300)  # wakes the loop, which finds the timers held
        assert not ran.wait(1.0)  # the loop had its chance: nothing ran
    assert ran.is_set()  # run by the release itself, not at the loop's next turn
    # The loop still runs callbacks on its own once nothing holds it.
    again = threading.Event()
    started.call_at(clock.now() + 1, again.set)
    clock.advance(1)
    assert again.wait(10.0)
