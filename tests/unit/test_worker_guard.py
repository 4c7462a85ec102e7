"""The worker's start-up guard: which values count as credentials."""

from __future__ import annotations

import pytest

from horus.worker import guard


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("redis://:s3cret@host:6379/0", "s3cret"),
        ("rediss://user:p%40ss@host/1", "p%40ss"),
        ("redis://user@host/0", None),
        ("redis://host:6379/0", None),
        ("unix:///run/redis.sock", None),
        (None, None),
    ],
)
def test_url_password(url: str | None, password: str | None) -> None:
    assert guard.url_password(url) == password


def test_secrets_cover_urls_in_both_spellings_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:paas-pw@h/0")
    monkeypatch.setenv("HORUS_TOKEN", "tok")
    monkeypatch.delenv("HORUS_REDIS_URL", raising=False)
    monkeypatch.delenv("HORUS_ADMIN_TOKEN", raising=False)
    found = guard.secrets("redis://u:p%40ss@h/0")
    assert set(found) == {"p%40ss", "paas-pw", "p@ss", "tok"}
    assert [len(value) for value in found] == sorted((len(value) for value in found), reverse=True)


def test_secrets_cover_a_sentinel_groups_own_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "HORUS_REDIS_URL", "HORUS_TOKEN", "HORUS_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    url = "redis+sentinel://:master-pw@s1:26379,s2:26379/horus/0?sentinel_password=s%2Fpw&x=1"
    assert set(guard.secrets(url)) == {"master-pw", "s%2Fpw", "s/pw"}
    assert guard.url_secrets("redis+cluster://:c-pw@h:1,h:2") == ["c-pw"]
    assert guard.url_secrets("redis://h/0?sentinel_password=") == []
