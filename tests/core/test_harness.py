"""The test harness itself: a run's Redis database is its own."""

from __future__ import annotations

import os
import subprocess
import sys

import redis

from tests.conftest import REDIS_LOCK, REDIS_SERVER_URL, ROOT, TEST_REDIS_URL, RedisDatabaseLock


def test_two_runs_get_different_redis_databases_and_give_them_back():
    first, second = RedisDatabaseLock(REDIS_SERVER_URL), RedisDatabaseLock(REDIS_SERVER_URL)
    try:
        a, b = first.acquire(), second.acquire()
        assert a != b and {a, b} <= set(range(1, 16))
        if REDIS_LOCK is not None:
            assert REDIS_LOCK.number not in (a, b) and REDIS_LOCK.holds()
        server = redis.Redis.from_url(REDIS_SERVER_URL + "/0")
        assert 0 < server.ttl(f"cagj-test-db:{a}") <= 60
        assert first.holds() and second.holds()
    finally:
        first.release()
        second.release()
    assert not server.exists(f"cagj-test-db:{a}", f"cagj-test-db:{b}")
    assert not first.holds()


def test_a_run_without_test_redis_url_takes_a_free_database_and_its_children_inherit_it():
    env = {key: value for key, value in os.environ.items() if key != "TEST_REDIS_URL"}
    script = ("import os, tests.conftest as c; print(c.TEST_REDIS_URL, os.environ['TEST_REDIS_URL'], "
              "c.REDIS_LOCK.holds(), c.REDIS_LOCK.token)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    url, inherited, held, token = out
    assert url == inherited and held == "True"
    assert url.rsplit("/", 1)[1] in {str(n) for n in range(1, 16)}
    if REDIS_LOCK is not None:  # this run's database (chosen, or given and marked as taken) is not handed out
        assert url != TEST_REDIS_URL
    # released at exit (another run on this host may have taken the same number since: compare the holder's token)
    holder = redis.Redis.from_url(REDIS_SERVER_URL + "/0").get(f"cagj-test-db:{url.rsplit('/', 1)[1]}")
    assert holder != token.encode()
