"""Redis URLs: one Redis, a cluster's seeds, a sentinel group; a bad URL says what is wrong."""

from __future__ import annotations

import pytest

from horus.errors import ConfigError, HorusError
from horus.redis_url import Address, ClusterTarget, SentinelTarget, parse_target, redact
from horus.resp import Address as RespAddress


def test_single_redis_urls_keep_their_meaning() -> None:
    assert parse_target("redis://example.org:6380/3") == Address(host="example.org", port=6380, db=3)
    assert parse_target("redis://") == Address()
    assert parse_target("rediss://u:p%40ss@h/2") == Address(host="h", db=2, username="u", password="p@ss", tls=True)
    assert parse_target("redis://:secret@h") == Address(host="h", password="secret")
    assert parse_target("unix:///run/redis.sock?db=4") == Address(path="/run/redis.sock", db=4)
    assert parse_target("redis://h?db=5") == Address(host="h", db=5)


def test_the_resp_module_still_exports_address() -> None:
    assert RespAddress is Address
    assert Address.parse("redis://h:1/2") == Address(host="h", port=1, db=2)


def test_cluster_seeds_carry_the_credentials_and_tls() -> None:
    target = parse_target("rediss+cluster://alice:s3cret@10.0.0.1:7000,10.0.0.2:7001,node-c")
    assert isinstance(target, ClusterTarget)
    assert [(s.host, s.port) for s in target.seeds] == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("node-c", 6379)]
    assert all(s.username == "alice" and s.password == "s3cret" and s.tls and s.db == 0 for s in target.seeds)
    assert target.node("10.0.0.9", 7005) == Address(
        host="10.0.0.9", port=7005, username="alice", password="s3cret", tls=True
    )
    assert "s3cret" not in str(target) and "s3cret" not in repr(target)


def test_cluster_url_forms() -> None:
    plain = parse_target("redis+cluster://127.0.0.1:17000/")
    assert isinstance(plain, ClusterTarget) and not plain.tls and plain.password is None
    assert parse_target("redis+cluster://h:1/0") == parse_target("redis+cluster://h:1")
    repeated = parse_target("redis+cluster://h:1,h:1,[::1]:2")
    assert isinstance(repeated, ClusterTarget)
    assert [(s.host, s.port) for s in repeated.seeds] == [("h", 1), ("::1", 2)]
    assert str(repeated) == "redis+cluster://h:1,[::1]:2"


def test_sentinel_url_names_the_master_and_its_database() -> None:
    target = parse_target("redis+sentinel://bob:pw@s1:26400,s2,s3:26402/horus/2?sentinel_password=sp")
    assert isinstance(target, SentinelTarget)
    assert target.master_name == "horus" and target.db == 2
    assert [(s.host, s.port) for s in target.sentinels] == [("s1", 26400), ("s2", 26379), ("s3", 26402)]
    # The URL's credentials are the master's; the sentinels log in with their own.
    assert all(s.password == "sp" and s.username is None for s in target.sentinels)
    assert target.master("10.1.1.1", 6379) == Address(
        host="10.1.1.1", port=6379, db=2, username="bob", password="pw", tls=False
    )
    assert "pw" not in repr(target)


def test_sentinel_without_a_database_uses_0_and_tls_applies_to_all() -> None:
    target = parse_target("rediss+sentinel://s1:1/mymaster?sentinel_username=watch&sentinel_password=x")
    assert isinstance(target, SentinelTarget)
    assert target.db == 0 and target.tls and all(s.tls and s.username == "watch" for s in target.sentinels)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h:1", "unknown scheme http://"),
        ("h:6379", "unknown scheme (none)"),
        ("redis+clusters://h:1", "unknown scheme redis+clusters://"),
        ("redis://h:notaport/0", "the port must be a number"),
        ("redis://h:70000", "the port must be a number"),
        ("redis://h/abc", "the database must be a number, not 'abc'"),
        ("unix://", "no socket path"),
        ("redis+cluster://", "no seed nodes"),
        ("redis+cluster://user:pw@", "no seed nodes"),
        ("redis+cluster://h:1,,h:2", "an empty seed node"),
        ("redis+cluster://h:1,", "an empty seed node"),
        ("redis+cluster://h:x", "seed node 'h:x': the port must be a number"),
        ("redis+cluster://h:0", "the port must be a number from 1 to 65535"),
        ("redis+cluster://h:1/3", "a cluster has only database 0"),
        ("redis+cluster://h:1?db=2", "takes no query parameters"),
        ("redis+cluster://a:b:c", "is not HOST:PORT"),
        ("redis+sentinel://s1:26379", "no master name"),
        ("redis+sentinel://s1:26379/", "no master name"),
        ("redis+sentinel:///horus", "no sentinels"),
        ("redis+sentinel://s1/horus/x", "the database must be a number, not 'x'"),
        ("redis+sentinel://s1/horus/1/2", "too many parts"),
        ("redis+sentinel://s1/horus?password=x", "unknown query parameter password"),
    ],
)
def test_a_bad_url_is_refused_saying_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match="expected ") as caught:
        parse_target(url)
    assert says in str(caught.value)
    assert isinstance(caught.value, HorusError)


def test_the_expected_form_is_the_one_of_the_scheme_given() -> None:
    with pytest.raises(ConfigError, match=r"expected redis\+cluster://"):
        parse_target("redis+cluster://")
    with pytest.raises(ConfigError, match=r"expected redis\+sentinel://.*MASTER_NAME"):
        parse_target("redis+sentinel://s")
    with pytest.raises(ConfigError, match=r"expected one of redis://.*redis\+cluster.*redis\+sentinel"):
        parse_target("memcached://h")


def test_errors_never_show_a_password() -> None:
    for url in (
        "redis+cluster://u:topsecret@h:1/5",
        "redis://u:topsecret@h:x",
        "redis+sentinel://s/m?sentinel_password=topsecret&x=1",
    ):
        with pytest.raises(ConfigError) as caught:
            parse_target(url)
        assert "topsecret" not in str(caught.value)
    assert redact("redis://u:pw@h:1/0") == "redis://u:***@h:1/0"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_a_single_redis_connection_refuses_a_group_url_clearly() -> None:
    with pytest.raises(ConfigError, match="names a Redis Cluster, not one Redis"):
        Address.parse("redis+cluster://h:1")
    with pytest.raises(ConfigError, match="names a Sentinel group"):
        Address.parse("redis+sentinel://h:1/horus")
