"""The cache keeps one Redis client per connection pool (Django builds one per call)."""

import threading
import uuid

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache


@pytest.fixture
def redis_cache():
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        pytest.skip("the cache is not Redis here")
    return backend


def test_cache_operations_build_no_client_per_call(redis_cache, monkeypatch) -> None:
    built: list[object] = []
    original = redis.Redis.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    redis_cache.get("warm-up")  # the one client, if this process has not made it yet
    monkeypatch.setattr(redis.Redis, "__init__", counted)
    prefix = f"shared-client-{uuid.uuid4().hex}"
    for number in range(20):
        assert redis_cache.add(f"{prefix}-{number}", number, timeout=30)
        assert not redis_cache.add(f"{prefix}-{number}", -1, timeout=30)
        assert redis_cache.get(f"{prefix}-{number}") == number
        redis_cache.delete(f"{prefix}-{number}")
    assert built == []


def test_threads_share_the_client_and_each_gets_its_own_answers(redis_cache) -> None:
    prefix = f"shared-threads-{uuid.uuid4().hex}"
    problems: list[str] = []

    def work(thread: int) -> None:
        for number in range(50):
            key = f"{prefix}-{thread}-{number}"
            if not redis_cache.add(key, (thread, number), timeout=30):
                problems.append(f"{key} was there already")
            found = redis_cache.get(key)
            if found != (thread, number):
                problems.append(f"{key} read back {found!r}")
            redis_cache.delete(key)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
