"""Events are correlated as client-go's recorder correlates them (tools/record/events_cache.go): a
repeated event bumps `count` and `lastTimestamp` of the Event already written; once ten different
messages of the same reason about the same object were written, the next ones (until ten minutes
pass without one) are combined into one Event. A pod that fails to schedule for an hour holds a handful of Events, not thousands."""

from simulator.api import ClusterApi
from simulator.clock import ManualClock
from simulator.events import AGGREGATE_INTERVAL_SECONDS, AGGREGATE_MAX_EVENTS, COMBINED_PREFIX
from simulator.resources import EVENTS, PODS
from simulator.store import ObjectStore


def harness():
    clock = ManualClock()
    api = ClusterApi(ObjectStore(clock), clock)
    pod = api.create(
        PODS, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    )
    return api, clock, pod.obj


def events(api):
    return sorted(
        ((e.obj["message"], e.obj["count"]) for e in api.store.list(EVENTS).items), key=lambda e: e[0]
    )


def test_the_same_event_again_bumps_the_count_of_the_one_written():
    api, clock, pod = harness()
    for _ in range(5):
        clock.advance(30)
        api.record_event(pod, "FailedScheduling", "0/3 nodes are available", event_type="Warning")
    (event,) = api.store.list(EVENTS).items
    assert event.obj["count"] == 5
    assert event.obj["lastTimestamp"] > event.obj["firstTimestamp"]
    api.record_event(pod, "Scheduled", "assigned")  # another reason is another event
    assert events(api) == [("0/3 nodes are available", 5), ("assigned", 1)]


def test_ten_different_messages_within_ten_minutes_are_combined_into_one_event():
    api, clock, pod = harness()
    for n in range(AGGREGATE_MAX_EVENTS + 15):
        clock.advance(1)
        api.record_event(pod, "FailedScheduling", f"0/{n} nodes are available", event_type="Warning")
    written = events(api)
    assert len(written) == AGGREGATE_MAX_EVENTS + 1  # ten distinct ones, then the combined one
    combined = [(m, c) for m, c in written if m.startswith(COMBINED_PREFIX)]
    assert combined == [(COMBINED_PREFIX + f"0/{AGGREGATE_MAX_EVENTS + 14} nodes are available", 15)]


def test_similar_events_start_again_after_the_interval():
    api, clock, pod = harness()
    for n in range(AGGREGATE_MAX_EVENTS):
        api.record_event(pod, "FailedScheduling", f"message {n}", event_type="Warning")
    api.record_event(pod, "FailedScheduling", "combined now", event_type="Warning")
    clock.advance(AGGREGATE_INTERVAL_SECONDS + 1)
    api.record_event(pod, "FailedScheduling", "a new message", event_type="Warning")
    assert (COMBINED_PREFIX + "combined now", 1) in events(api)
    assert ("a new message", 1) in events(api)


def test_a_reaped_event_is_written_anew():
    api, clock, pod = harness()
    api.record_event(pod, "FailedScheduling", "full", event_type="Warning")
    (event,) = api.store.list(EVENTS).items
    api.delete(EVENTS, "default", event.obj["metadata"]["name"])
    api.record_event(pod, "FailedScheduling", "full", event_type="Warning")
    assert events(api) == [("full", 1)]
