"""Reading the Lua scripts: includes are pasted in, and no script is left with one unexpanded."""

from __future__ import annotations

from importlib import resources

import pytest
import redis

from horus import scripts
from horus.broker import Broker
from horus.resp import ReplyError


def _names() -> list[str]:
    return [path.name.removesuffix(".lua") for path in resources.files("horus").joinpath("lua").iterdir()]


def test_an_include_is_replaced_by_the_named_script() -> None:
    text = scripts.source("wf_cancel")
    assert "--! include" not in text
    assert scripts.source("wf_lib") in text
    assert text.index("local function stop_open_steps") < text.index("stop_open_steps(KEYS[1]")


def test_no_script_keeps_an_include_line() -> None:
    for name in _names():
        assert "--! include" not in scripts.source(name), name


def test_every_script_called_by_name_is_in_exactly_one_group() -> None:
    grouped = [name for group in scripts.GROUPS for name in group]
    assert len(grouped) == len(set(grouped))
    called = {name for name in _names() if not name.endswith("_lib")}
    assert set(grouped) == called


def test_a_missing_script_is_loaded_with_its_group_only(broker: Broker, r: redis.Redis) -> None:
    """One NOSCRIPT path for every group: the job runtime's, the coordinator's, Osiris's."""
    conn = broker.conn
    shas = {group: [scripts.sha(name) for name in group] for group in scripts.GROUPS}
    lease = broker.keys.workflow_lease("w1")
    for group, command in [
        (scripts.WORKFLOW, scripts.command("wf_lease", [lease], ["me", 0])),
        (scripts.OSIRIS, scripts.command("osiris_list", [broker.keys.osiris_ids("c")], ["prefix", 0, 10])),
        (scripts.NAMES, scripts.command("masters_prune", [broker.keys.masters("r1")], [])),
    ]:
        r.script_flush()
        first, plain = scripts.run(conn, [command, ("PING",)])
        assert plain == "PONG" and not isinstance(first, ReplyError), first
        for other, hashes in shas.items():
            assert r.script_exists(*hashes) == [other is group] * len(hashes), (group, other)


def test_call_raises_an_error_reply(broker: Broker) -> None:
    with pytest.raises(ReplyError):
        scripts.call(broker.conn, "osiris_list", [broker.keys.osiris_ids("c")], ["prefix", "not a number", 10])
