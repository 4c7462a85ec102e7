"""Osiris on a real Sentinel group (scripts/redis-group): an ``osiris`` job and the Python store
on a ``redis+sentinel://`` URL, and the store going on with the promoted replica after a failover.
Also the SAL ``redis`` module (a script's own Redis, on redis-py) given the same form of URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from nacl.signing import SigningKey

from horus.client import RedisClient
from horus.errors import ConnectionFailed
from horus.keys import Keys
from horus.models import JobStatus
from horus.osiris import Store
from horus.redis_url import SentinelTarget, parse_target
from horus.sal.redis_module import RedisModule
from tests.conftest import StartWorker
from tests.integration.redis_groups import redis_group

pytestmark = pytest.mark.slow  # starting a group takes a few seconds

#: Ports apart from the other modules' groups on the same machine.
REDIS_PORTS, SENTINEL_PORTS = (18990, 19090), (26590, 26660)
WAIT_S = 120.0
SEED_EXAMPLE = """let users = osiris.model("users");
let user = users.create(#{
    name: "Alice",
    email: "alice@example.com"
});
user.id
"""


@dataclass
class Group:
    url: str
    target: SentinelTarget

    def sentinel(self, index: int = 0) -> redis.Redis:
        where = self.target.sentinels[index]
        return redis.Redis(host=where.host, port=where.port, decode_responses=True)

    def master_port(self) -> int:
        with self.sentinel() as s:
            _, port = s.execute_command("SENTINEL", "get-master-addr-by-name", self.target.master_name)
        return int(port)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, db=self.target.db, decode_responses=True)

    def role(self, port: int) -> str:
        with self.node(port) as node:
            return str(node.execute_command("ROLE")[0])


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    with redis_group("sentinel", tmp_path_factory.mktemp("osiris-sentinel"), REDIS_PORTS, SENTINEL_PORTS) as url:
        target = parse_target(url)
        assert isinstance(target, SentinelTarget)
        yield Group(url, target)


def test_an_osiris_job_and_the_store_on_a_sentinel_url(
    group: Group, start_worker: StartWorker, key: SigningKey, namespace: str, tmp_path: Path
) -> None:
    start_worker("osiris1", runner_type="osiris", concurrency=1, url=group.url)
    with RedisClient(group.url, namespace, key=key) as client:
        result = client.run({"runner_id": "osiris1", "payload": SEED_EXAMPLE, "timeout": 30}, WAIT_S)
    assert result.status == JobStatus.COMPLETED, result.error
    with Store(group.url, namespace=namespace) as store:
        users = store.model("users")
        assert [(u["id"], u["name"]) for u in users.list()] == [(result.value, "Alice")]
        users.define(index=["email"], unique=["email"])
        assert users.find({"email": "alice@example.com"})[0]["id"] == result.value
    with group.node(group.master_port()) as master:
        assert master.exists(Keys(namespace).osiris_doc("users", str(result.value)))


def test_the_sal_redis_module_on_a_sentinel_url(group: Group, namespace: str) -> None:
    module = RedisModule(time.monotonic() + WAIT_S)
    try:
        client = module.connect(group.url)
        assert client.set(f"{namespace}:sal", "v") is True
        assert client.get(f"{namespace}:sal") == "v"
    finally:
        module._close()
    with group.node(group.master_port()) as master:
        assert master.get(f"{namespace}:sal") == "v"


def test_the_store_follows_a_failover(group: Group, namespace: str) -> None:
    """Last in the module: it moves the group's master."""
    old = group.master_port()
    with Store(group.url, namespace=namespace) as store:
        users = store.model("users")
        users.define(unique=["email"])
        before = users.create({"email": "before@example.com"})
        with group.node(old) as master:
            master.execute_command("WAIT", 1, 5000)  # the replica has it before the switch
        with group.sentinel(1) as s:
            s.execute_command("SENTINEL", "FAILOVER", group.target.master_name)
        deadline = time.monotonic() + WAIT_S
        # The sentinels name the replica, then turn the old master into a replica of it (which
        # closes its clients): from then on every write there fails, and only there.
        while (new := group.master_port()) == old or group.role(old) != "slave":
            assert time.monotonic() < deadline, "the sentinels did not switch the master"
            time.sleep(0.05)  # the sentinels announce nothing a test can block on
        while True:
            try:
                after = users.create({"email": "after@example.com"})
                break
            except ConnectionFailed:  # the connection to the old master, lost; the next is new
                assert time.monotonic() < deadline, "the store did not reach the new master"
        assert users.get(before["id"]) == before
        assert users.count() == 2
    with group.node(new) as master:
        assert master.exists(Keys(namespace).osiris_doc("users", after["id"]))
