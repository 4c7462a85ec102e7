"""The app API without Redis: settings, option checks, the call encoding and eager mode."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

import pytest

from horus import Horus, JobFailed, TaskContext, current_job
from horus.client import RedisClient
from horus.config import toml_settings
from horus.errors import ConfigError, JobRejected
from horus.sdk import Client
from horus.signing import generate_key, save_key
from horus.tasks import REGISTRY, decode_call, encode_call

SETTINGS = ("HORUS_REDIS_URL", "REDIS_URL", "HORUS_NAMESPACE", "HORUS_KEY_FILE", "HORUS_SUPERVISOR_URL", "HORUS_TOKEN")


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*SETTINGS, "HORUS_EAGER", "HORUS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no horus.toml unless a test writes one
    toml_settings.cache_clear()


@pytest.fixture
def eager() -> Horus:
    return Horus("unit-runner", eager=True)


def unique(name: str) -> str:
    """Task names are global (the worker's registry): each test registers its own."""
    return f"{name}-{len(REGISTRY)}"


def test_settings_come_from_the_environment_like_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "client.key"
    save_key(key_file, generate_key())
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/4")
    monkeypatch.setenv("HORUS_NAMESPACE", "elsewhere")
    monkeypatch.setenv("HORUS_KEY_FILE", str(key_file))
    app = Horus("r")
    client = app.client  # made on first use, without connecting
    assert isinstance(client, RedisClient)
    assert (client.broker.address.port, client.broker.address.db) == (6390, 4)
    assert client.broker.keys.namespace == "elsewhere"
    assert client.key is not None
    monkeypatch.setenv("HORUS_SUPERVISOR_URL", "http://127.0.0.1:8080/")
    monkeypatch.setenv("HORUS_TOKEN", "secret")
    through = Horus("r").client
    assert isinstance(through, Client) and through.token == "secret"
    # An explicit Redis URL wins over a supervisor named by the environment.
    assert isinstance(Horus("r", redis_url="redis://127.0.0.1:6391/0").client, RedisClient)


def test_settings_from_horus_toml(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    save_key(key_file, generate_key())
    (tmp_path / "horus.toml").write_text(f'redis_url = "redis://127.0.0.1:6392/2"\nkey_file = "{key_file}"\n')
    client = Horus("r").client
    assert isinstance(client, RedisClient)
    assert client.broker.address.port == 6392 and client.key is not None


def test_key_as_path_str_or_signing_key(tmp_path: Path) -> None:
    key = generate_key()
    save_key(tmp_path / "c.key", key)
    for given in (tmp_path / "c.key", str(tmp_path / "c.key"), key):
        client = Horus("r", redis_url="redis://127.0.0.1:6393/0", key=given).client
        assert isinstance(client, RedisClient) and client.key == key


def test_a_missing_key_or_runner_is_named_at_the_call() -> None:
    app = Horus(redis_url="redis://127.0.0.1:6394/0")

    @app.task(name=unique("runnerless"))
    def runnerless() -> None: ...

    with pytest.raises(ConfigError, match="has no runner"):
        runnerless.delay()
    keyless = Horus("r", redis_url="redis://127.0.0.1:6394/0")

    @keyless.task(name=unique("keyless"))
    def unsigned() -> None: ...

    with pytest.raises(ConfigError, match="no signing key"):
        unsigned.delay()
    with pytest.raises(ConfigError, match="runner id"):
        Horus("not a runner id")
    with pytest.raises(ConfigError, match="not both"):
        Horus("r", redis_url="redis://x", supervisor="http://y")


def test_task_options_are_checked_when_the_task_is_defined(eager: Horus) -> None:
    with pytest.raises(JobRejected, match=r"priority: must be from 0 to 9 \(got 12\)"):
        eager.task(priority=12)
    with pytest.raises(JobRejected, match="timeout"):
        eager.task(timeout=0)

    @eager.task(name=unique("opts"))
    def opts() -> int:
        return 1

    with pytest.raises(JobRejected, match="retries"):
        opts.apply_async(retries=1000)
    with pytest.raises(ValueError, match="not both"):
        opts.apply_async(countdown=1, eta=datetime.datetime.now(datetime.UTC))
    with pytest.raises(JobRejected, match="id"):
        opts.apply_async(job_id="bad id")


def test_a_non_json_argument_fails_at_the_call_naming_it(eager: Horus) -> None:
    @eager.task(name=unique("takes"))
    def takes(*args: object, **kwargs: object) -> None: ...

    with pytest.raises(TypeError, match=r"argument 1 \(datetime"):
        takes.delay(1, datetime.datetime.now())
    with pytest.raises(TypeError, match=r"argument 'when' \(set"):
        takes.delay(when={1})
    with pytest.raises(TypeError, match=r"argument 0 \(dict: Dict key must be str"):
        takes.delay({1: "a"})
    assert decode_call(encode_call("t", (2**70, (1, 2)), {"k": None})) == ("t", [2**70, [1, 2]], {"k": None})


def test_eager_mode_encodes_the_call_and_the_value_like_a_worker(eager: Horus) -> None:
    @eager.task(name=unique("shape"))
    def shape(items: list[int], pair: tuple[int, int]) -> dict[str, object]:
        return {"items": items, "pair": pair, "is_tuple": isinstance(pair, tuple)}

    # A tuple goes over as a JSON array, as it does to a worker.
    assert shape.delay([1], (2, 3)).get() == {"items": [1], "pair": [2, 3], "is_tuple": False}

    @eager.task(name=unique("bad_value"))
    def bad_value() -> object:
        return {1, 2}

    with pytest.raises(JobFailed, match="JSON cannot hold"):
        bad_value.delay().get()


def test_eager_failure_keeps_the_traceback_and_retries_run_at_once(eager: Horus) -> None:
    runs: list[int] = []

    @eager.task(name=unique("flaky"), retries=3, retry_backoff_s=60)
    def flaky() -> int:
        runs.append(current_job().attempt)
        if len(runs) < 3:
            raise RuntimeError(f"run {len(runs)}")
        return len(runs)

    handle = flaky.delay()
    assert handle.get() == 3 and runs == [1, 2, 3]
    assert handle.result().attempts == 3 and len(handle.result().history) == 2

    @eager.task(name=unique("broken"))
    def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(JobFailed) as failed:
        broken.delay().get()
    assert failed.value.error == "KeyError: 'missing'"
    assert failed.value.traceback is not None and "in broken" in failed.value.traceback
    assert "horus/eager.py" not in failed.value.traceback


def test_bound_tasks_get_the_job_context(eager: Horus) -> None:
    @eager.task(name=unique("bound"), bind=True, retries=1)
    def bound(job: TaskContext, x: int) -> list[object]:
        job.progress(50, "half")
        return [job.id, job.attempt, job.retries, x, current_job() is job]

    handle = bound.delay(7)
    assert handle.get() == [handle.id, 1, 1, 7, True]
    # A plain call gets a detached context: no id, progress goes nowhere.
    assert bound(8) == ["", 1, 0, 8, True]
    with pytest.raises(ValueError, match="from 0 to 100"):
        current_job().progress(101)


def test_eager_async_tasks_run_from_sync_and_async_callers(eager: Horus) -> None:
    @eager.task(name=unique("coro"))
    async def coro(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    assert coro.delay(1).get() == 2

    async def inside() -> int:
        return int(await coro.delay(2).aget())

    assert asyncio.run(inside()) == 3


def test_eager_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Horus("r", redis_url="redis://127.0.0.1:1/0")

    @app.task(name=unique("env_eager"))
    def env_eager() -> str:
        return "inline"

    monkeypatch.setenv("HORUS_EAGER", "1")
    assert app.eager and env_eager.delay().get() == "inline"
    assert Horus("r", eager=False).eager is False


def test_a_payload_given_as_an_object_is_refused_with_the_text_form() -> None:
    from horus.admission import parse_job

    for given in ({"task": "add", "args": [2, 3]}, ["add"]):
        with pytest.raises(JobRejected) as refused:
            parse_job({"runner_id": "r", "payload": given})
        assert refused.value.field == "payload" and refused.value.code == "invalid_field"
        assert "must be a string, not an object" in refused.value.reason
        assert "task.delay" in refused.value.reason


def test_send_task_takes_the_options_of_apply_async(eager: Horus) -> None:
    @eager.task(name=unique("by_name"))
    def by_name(x: int) -> int:
        return x * 2

    handle = eager.send_task(by_name.name, args=(4,), priority=3, retries=1, countdown=0, job_id="named-1")
    assert handle.id == "named-1" and handle.get() == 8
    with pytest.raises(TypeError, match="unknown task option"):
        eager.send_task(by_name.name, args=(1,), colour="red")
    with pytest.raises(JobRejected, match="priority"):
        eager.send_task(by_name.name, args=(1,), priority=99)
