"""Sentinel discovery's error paths, against tiny RESP servers of the test's own (no Redis)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import hiredis
import pytest

from horus.broker import Broker
from horus.connect import connect, connect_async, refuse_cluster, target_of
from horus.errors import ConfigError, ConnectionFailed
from horus.redis_url import ClusterTarget, SentinelTarget, parse_target
from horus.resp import Connection, ReplyError
from horus.resp_sentinel import NoMaster, SentinelConnection
from horus.resp_sentinel_async import AsyncSentinelConnection

Handler = Callable[[list[str]], bytes]


def bulk(text: str) -> bytes:
    return f"${len(text.encode())}\r\n{text}\r\n".encode()


def array(*items: bytes) -> bytes:
    return f"*{len(items)}\r\n".encode() + b"".join(items)


OK = b"+OK\r\n"
MASTER_ROLE = array(bulk("master"), b":0\r\n", b"*0\r\n")
REPLICA_ROLE = array(bulk("slave"), bulk("127.0.0.1"), b":1\r\n", bulk("connected"), b":0\r\n")
NIL = b"*-1\r\n"


class FakeServer:
    """Answers each command with what ``handler`` returns; records what it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[list[str]] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        reader = hiredis.Reader(encoding="utf-8")
        with client:
            while data := client.recv(65536):
                reader.feed(data)
                while (command := reader.gets()) is not False:
                    self.seen.append(command)
                    client.sendall(self.handler(command))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def servers() -> Iterator[Callable[[Handler], FakeServer]]:
    made: list[FakeServer] = []

    def make(handler: Handler) -> FakeServer:
        made.append(FakeServer(handler))
        return made[-1]

    yield make
    for server in made:
        server.close()


def sentinel_naming(port: int | None) -> Handler:
    def handle(command: list[str]) -> bytes:
        if command[0].upper() == "SENTINEL":
            return NIL if port is None else array(bulk("127.0.0.1"), bulk(str(port)))
        return b"-ERR unknown command\r\n"

    return handle


def redis_answering(role: bytes, replies: dict[str, bytes] | None = None) -> Handler:
    def handle(command: list[str]) -> bytes:
        name = command[0].upper()
        if name == "ROLE":
            return role
        return (replies or {}).get(name, OK)

    return handle


def target(*ports: int, name: str = "horus") -> SentinelTarget:
    parsed = parse_target("redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in ports) + f"/{name}/3")
    assert isinstance(parsed, SentinelTarget)
    return parsed


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_sentinel_knows_the_master(servers: Callable[[Handler], FakeServer]) -> None:
    first, second = servers(sentinel_naming(None)), servers(sentinel_naming(None))
    down = closed_port()
    with pytest.raises(NoMaster) as caught:
        SentinelConnection(target(first.port, down, second.port, name="orders"), discover_timeout_s=0.3)
    message = str(caught.value)
    assert "'orders'" in message
    assert f"127.0.0.1:{first.port}: does not monitor a master named 'orders'" in message
    assert f"127.0.0.1:{down}: cannot reach" in message
    assert f"127.0.0.1:{second.port}" in message
    assert isinstance(caught.value, ConnectionFailed)  # transient to every caller, as a lost Redis


def test_a_sentinel_naming_a_replica_is_not_believed(servers: Callable[[Handler], FakeServer]) -> None:
    replica = servers(redis_answering(REPLICA_ROLE))
    stale = servers(sentinel_naming(replica.port))
    with pytest.raises(NoMaster, match=rf"named 127.0.0.1:{replica.port}, which is a slave"):
        SentinelConnection(target(stale.port), discover_timeout_s=0.3)


def test_the_next_sentinel_names_the_master(servers: Callable[[Handler], FakeServer]) -> None:
    master = servers(redis_answering(MASTER_ROLE))
    replica = servers(redis_answering(REPLICA_ROLE))
    stale, current = servers(sentinel_naming(replica.port)), servers(sentinel_naming(master.port))
    group = target(stale.port, current.port)
    conn = SentinelConnection(group)
    assert conn.address.port == master.port
    assert ["SELECT", "3"] in master.seen  # the URL's database, on the master
    conn.close()
    asked = len(stale.seen)
    again = connect(group)
    assert again.address.port == master.port
    assert len(stale.seen) == asked  # the sentinel that answered is asked first now
    again.close()


def test_discovery_waits_for_a_failover_to_end(servers: Callable[[Handler], FakeServer]) -> None:
    master = servers(redis_answering(MASTER_ROLE))
    replica = servers(redis_answering(REPLICA_ROLE))
    asked: list[int] = []

    def moving(command: list[str]) -> bytes:
        asked.append(1)
        port = replica.port if len(asked) < 4 else master.port
        return array(bulk("127.0.0.1"), bulk(str(port)))

    sentinel = servers(moving)
    conn = SentinelConnection(target(sentinel.port), discover_timeout_s=30)
    assert conn.address.port == master.port and len(asked) == 4
    conn.close()


def test_a_demoted_master_reads_as_a_lost_connection(servers: Callable[[Handler], FakeServer]) -> None:
    """READONLY (and LOADING) mean the command did not run: the caller retries, as after a lost
    connection, and the next connection asks the sentinels again; other errors stay answers."""
    readonly = b"-READONLY You can't write against a read only replica.\r\n"
    master = servers(
        redis_answering(
            MASTER_ROLE, {"SET": readonly, "GET": b"-LOADING Redis is loading\r\n", "INCR": b"-ERR nope\r\n"}
        )
    )
    sentinel = servers(sentinel_naming(master.port))
    conn = connect(target(sentinel.port))
    assert isinstance(conn, SentinelConnection)
    with pytest.raises(ReplyError, match="nope"):
        conn.call("INCR", "k")
    assert not conn.broken
    with pytest.raises(ConnectionFailed, match="not the master of 'horus' now"):
        conn.call("SET", "k", "v")
    assert conn.broken
    conn = connect(target(sentinel.port))
    with pytest.raises(ConnectionFailed, match="LOADING"):
        conn.pipeline([["PING"], ["GET", "k"]])
    conn = connect(target(sentinel.port))
    conn.send([["SET", "k", "v"]])
    with pytest.raises(ConnectionFailed, match="READONLY"):
        conn.reply()


def test_async_discovery(servers: Callable[[Handler], FakeServer]) -> None:
    master = servers(redis_answering(MASTER_ROLE, {"SET": b"-READONLY no\r\n", "GET": bulk("v")}))
    replica = servers(redis_answering(REPLICA_ROLE))
    stale, current = servers(sentinel_naming(replica.port)), servers(sentinel_naming(master.port))

    async def run() -> None:
        conn = await connect_async(target(stale.port, current.port))
        assert conn.address.port == master.port
        assert await conn.call("GET", "k", timeout_s=5) == "v"
        with pytest.raises(ConnectionFailed, match="READONLY"):
            await conn.call("SET", "k", "v", timeout_s=5)
        assert conn.broken
        nobody = servers(sentinel_naming(None))
        with pytest.raises(NoMaster, match="does not monitor"):
            await AsyncSentinelConnection.discover(target(nobody.port), discover_timeout_s=0.3)

    asyncio.run(run())


def test_single_redis_keeps_the_plain_connection(servers: Callable[[Handler], FakeServer]) -> None:
    plain = servers(redis_answering(MASTER_ROLE))
    conn = connect(target_of(f"redis://127.0.0.1:{plain.port}/0"))
    assert type(conn) is Connection
    conn.close()


@pytest.mark.parametrize("url", ["redis+cluster://127.0.0.1:7000", "rediss+cluster://a:1,b:2"])
def test_a_cluster_url_makes_a_slot_safe_broker_and_is_refused_by_the_asyncio_servers(url: str) -> None:
    target = target_of(url)
    assert isinstance(target, ClusterTarget)
    assert Broker(url).cluster  # connects on first use
    with pytest.raises(ConfigError, match="the supervisor cannot run on a Redis Cluster yet"):
        refuse_cluster(target, "the supervisor")


def test_a_broker_takes_a_sentinel_url() -> None:
    broker = Broker("redis+sentinel://127.0.0.1:1,127.0.0.1:2/horus/4")  # connects on first use
    assert isinstance(broker.target, SentinelTarget) and broker.target.db == 4
    with pytest.raises(ConfigError, match="Sentinel group"):
        _ = broker.address


def test_a_connection_leaves_a_master_the_sentinels_replaced(servers: Callable[[Handler], FakeServer]) -> None:
    """A forced failover leaves the old master running and taking writes: the connection asks
    a sentinel again before a command once its last answer is older than ``recheck_s``."""
    old, new = servers(redis_answering(MASTER_ROLE)), servers(redis_answering(MASTER_ROLE))
    named = [old.port]
    sentinel = servers(lambda _: array(bulk("127.0.0.1"), bulk(str(named[0]))))
    conn = SentinelConnection(target(sentinel.port), recheck_s=0.0)
    assert conn.call("SET", "k", "v") == "OK"  # asked again: still the master
    named[0] = new.port
    with pytest.raises(ConnectionFailed, match=rf"moved the master of 'horus' from 127.0.0.1:{old.port} to "):
        conn.call("SET", "k", "v")
    assert conn.broken and old.seen.count(["SET", "k", "v"]) == 1  # the second was never sent
    moved = SentinelConnection(target(sentinel.port), recheck_s=60.0)
    assert moved.address.port == new.port
    named[0] = old.port
    assert moved.call("SET", "k", "v") == "OK"  # not asked again before recheck_s
    moved.close()
