"""key.* and token.*: who may sign jobs for which runners, and who may call the API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from horus.errors import ConfigError
from horus.supervisor.auth import new_token
from horus.supervisor.context import Context
from horus.supervisor.errors import RpcError
from horus.supervisor.registry import KeyInfo
from horus.supervisor.rpc import Method, Role
from horus.trust import TrustPolicy


class KeyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(description="ed25519 public key, 64 hex characters")

    @field_validator("public_key")
    @classmethod
    def _normalise(cls, value: str) -> str:
        # Stored as the trust policy compares: lowercase, trimmed.
        return value.strip().lower()


class AddKeyParams(KeyParams):
    runners: list[str] = Field(
        default=["*"], min_length=1, description="runner ids or fnmatch patterns the key may target; '*' for all"
    )


class EmptyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="who holds it; token.revoke takes this name")
    role: Role = Role.USER


class TokenRevokeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)


class NewToken(BaseModel):
    name: str
    role: Role
    token: str = Field(description="shown once: only its sha256 is stored")


class Whoami(BaseModel):
    role: Role
    identity: str = Field(description="owner of the jobs this token submits: token:NAME, or bootstrap-admin")


def add(ctx: Context, params: AddKeyParams) -> KeyInfo:
    try:
        TrustPolicy({params.public_key: params.runners})
    except ConfigError:  # the same check the admission policy makes
        raise RpcError("invalid_key", "not a 32-byte ed25519 public key in hex", "public_key") from None
    return ctx.registry.add_key(params.public_key, params.runners)


def remove(ctx: Context, params: KeyParams) -> bool:
    if not ctx.registry.remove_key(params.public_key):
        raise RpcError("key_not_found", "no such key in the registry", "public_key")
    return True


def list_keys(ctx: Context, _params: EmptyParams) -> list[KeyInfo]:
    return ctx.registry.trusted_keys()


def create_token(ctx: Context, params: TokenCreateParams) -> NewToken:
    token = new_token()
    ctx.registry.add_token(token, params.name, params.role)
    return NewToken(name=params.name, role=params.role, token=token)


def whoami(ctx: Context, _params: EmptyParams) -> Whoami:
    assert ctx.caller is not None  # the method needs a token
    return Whoami(role=ctx.caller.role, identity=ctx.caller.identity)


def revoke_token(ctx: Context, params: TokenRevokeParams) -> int:
    revoked = ctx.registry.revoke_tokens(params.name)
    if not revoked:
        raise RpcError("token_not_found", f"no token named {params.name!r}", "name")
    return revoked


METHODS = [
    Method(
        "key.add",
        "Trust a public key to sign jobs for some runners (replaces its runner list if present).",
        AddKeyParams,
        KeyInfo,
        add,
        Role.ADMIN,
        ("invalid_key",),
    ),
    Method("key.remove", "Stop trusting a public key.", KeyParams, bool, remove, Role.ADMIN, ("key_not_found",)),
    Method("key.list", "Trusted public keys.", EmptyParams, list[KeyInfo], list_keys, Role.ADMIN),
    Method(
        "token.create",
        "Create a bearer token with a role; returns it once.",
        TokenCreateParams,
        NewToken,
        create_token,
        Role.ADMIN,
    ),
    Method(
        "token.revoke",
        "Revoke every token with this name; returns how many.",
        TokenRevokeParams,
        int,
        revoke_token,
        Role.ADMIN,
        ("token_not_found",),
    ),
    Method(
        "token.whoami",
        "The calling token's role and identity (what a client may offer before it calls).",
        EmptyParams,
        Whoami,
        whoami,
        Role.USER,
    ),
]
