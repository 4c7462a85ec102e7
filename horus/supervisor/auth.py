"""Bearer tokens with roles. Only sha256 hashes are kept, so a Redis dump leaks no token."""

from __future__ import annotations

import hmac
import secrets

from horus.supervisor.errors import RpcError
from horus.supervisor.registry import Registry, token_hash
from horus.supervisor.rpc import Caller, Role

#: The identity of the bootstrap admin token and of --insecure-dev callers. A token's own
#: identity is ``token:NAME``, so neither can be taken by naming a token.
BOOTSTRAP_ADMIN = "bootstrap-admin"
INSECURE_DEV = "insecure-dev"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_identity(name: str) -> str:
    """The identity of every token created with this name: tokens sharing a name share their jobs,
    so a token can be replaced (create the new one, revoke the old) without losing access."""
    return f"token:{name}"


class Authenticator:
    """Resolves an ``Authorization`` header to a caller: a role and an identity.

    The bootstrap admin token (``HORUS_ADMIN_TOKEN`` / ``--admin-token-file``) is configuration:
    it is checked in memory, so it works on an empty Redis and cannot be revoked through the API.
    """

    def __init__(self, registry: Registry, admin_token: str | None = None, insecure: bool = False) -> None:
        self.registry = registry
        self.admin_hash = token_hash(admin_token) if admin_token else None
        self.insecure = insecure

    def caller(self, authorization: str | None) -> Caller:
        if self.insecure:
            return Caller(Role.ADMIN, INSECURE_DEV)
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise RpcError("unauthenticated", "authentication required: send 'Authorization: Bearer TOKEN'")
        if self.admin_hash is not None and hmac.compare_digest(token_hash(token), self.admin_hash):
            return Caller(Role.ADMIN, BOOTSTRAP_ADMIN)
        info = self.registry.token(token)  # looked up by hash: no timing side channel on the token
        if info is None:
            raise RpcError("unauthenticated", "unknown or revoked token")
        return Caller(info.role, token_identity(info.name))
