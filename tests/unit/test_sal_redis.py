"""The ``redis`` module against the real test Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from horus.sal.common import SalError
from horus.sal.redis_module import RedisConnection, RedisModule


@pytest.fixture
def module() -> Iterator[RedisModule]:
    module = RedisModule(time.monotonic() + 30)
    yield module
    module._close()


@pytest.fixture
def client(module: RedisModule, r: redis.Redis, redis_url: str) -> RedisConnection:
    return module.connect(redis_url)


@pytest.fixture
def key() -> str:
    return f"sal-test:{uuid.uuid4().hex[:8]}"


def test_get_set_and_ttl(client: RedisConnection, r: redis.Redis, key: str) -> None:
    assert client.get(key) is None
    assert client.set(key, "v") is True
    assert client.get(key) == "v"
    client.set(f"{key}:n", 42)
    assert client.get(f"{key}:n") == "42"
    client.set(f"{key}:ttl", "x", 100)
    assert 0 < r.ttl(f"{key}:ttl") <= 100
    assert r.ttl(key) == -1


def test_del_and_exists(client: RedisConnection, key: str) -> None:
    client.set(key, "v")
    assert client.exists(key) is True
    delete = getattr(client, "del")  # the name scripts use
    assert delete(key, f"{key}:absent") == 1
    assert client.exists(key) is False


def test_incr(client: RedisConnection, key: str) -> None:
    assert client.incr(key) == 1
    assert client.incr(key, 5) == 6


def test_hashes(client: RedisConnection, key: str) -> None:
    assert client.hset(key, "name", "web") == 1
    assert client.hset(key, "name", "api") == 0
    client.hset(key, "port", 80)
    assert client.hget(key, "name") == "api"
    assert client.hget(key, "nope") is None
    assert client.hgetall(key) == {"name": "api", "port": "80"}
    assert client.hgetall(f"{key}:none") == {}


def test_lists(client: RedisConnection, key: str) -> None:
    client.rpush(key, "b")
    client.rpush(key, "c")
    assert client.lpush(key, "a") == 3
    assert client.lrange(key) == ["a", "b", "c"]
    assert client.lrange(key, 1, 1) == ["b"]


def test_keys_by_pattern(client: RedisConnection, key: str) -> None:
    for suffix in ("b", "a", "c"):
        client.set(f"{key}:{suffix}", "1")
    assert client.keys(f"{key}:*") == [f"{key}:a", f"{key}:b", f"{key}:c"]


def test_wrong_type_error_names_the_command(client: RedisConnection, key: str) -> None:
    client.rpush(key, "x")
    with pytest.raises(SalError, match=r"redis GET on redis://127.0.0.1:\d+/\d+ failed: WRONGTYPE"):
        client.get(key)


def test_refuses_containers_as_values(client: RedisConnection, key: str) -> None:
    with pytest.raises(SalError, match=r"redis value must be a string or a number, not list"):
        client.set(key, [1])
    with pytest.raises(SalError, match=r"ttl must be a positive number of seconds"):
        client.set(key, "v", 0)


def test_unreachable_redis_is_named_without_password(module: RedisModule) -> None:
    with pytest.raises(SalError, match=r"redis connect on redis://:\*\*\*@127.0.0.1:1/0 failed") as caught:
        module.connect("redis://:topsecret@127.0.0.1:1/0")
    assert "topsecret" not in str(caught.value)


def test_bad_url_is_refused(module: RedisModule) -> None:
    with pytest.raises(SalError, match=r"redis url must start with redis://"):
        module.connect("http://127.0.0.1:6379")


def test_a_cluster_url_is_refused_naming_the_schemes_taken(module: RedisModule) -> None:
    with pytest.raises(SalError, match=r"redis\+sentinel://.* not redis\+cluster://127.0.0.1:7000"):
        module.connect("redis+cluster://127.0.0.1:7000")


def test_a_malformed_sentinel_url_is_refused_without_its_password(module: RedisModule) -> None:
    with pytest.raises(SalError, match=r"invalid redis url: .*no master name") as caught:
        module.connect("redis+sentinel://:topsecret@127.0.0.1:26379")
    assert "topsecret" not in str(caught.value)


def test_an_unreachable_sentinel_group_is_named_without_password(module: RedisModule) -> None:
    with pytest.raises(SalError, match=r"redis connect on redis\+sentinel://.*failed") as caught:
        module.connect("redis+sentinel://:topsecret@127.0.0.1:1/horus?sentinel_password=alsosecret")
    assert "topsecret" not in str(caught.value) and "alsosecret" not in str(caught.value)


def test_close_closes_every_connection(module: RedisModule, redis_url: str, r: redis.Redis) -> None:
    marker = f"sal-close-{uuid.uuid4().hex[:8]}"
    client = module.connect(redis_url)
    client._client.client_setname(marker)
    assert any(c.get("name") == marker for c in r.client_list())
    module._close()
    assert not any(c.get("name") == marker for c in r.client_list())
