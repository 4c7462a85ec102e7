"""Bearer tokens with roles. Only sha256 hashes are kept, so a Redis dump leaks no token."""

from __future__ import annotations

import hmac
import secrets

from horus.supervisor.errors import RpcError
from horus.supervisor.registry import Registry, token_hash
from horus.supervisor.rpc import Role


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Authenticator:
    """Resolves an ``Authorization`` header to a role.

    The bootstrap admin token (``HORUS_ADMIN_TOKEN`` / ``--admin-token-file``) is configuration:
    it is checked in memory, so it works on an empty Redis and cannot be revoked through the API.
    """

    def __init__(self, registry: Registry, admin_token: str | None = None, insecure: bool = False) -> None:
        self.registry = registry
        self.admin_hash = token_hash(admin_token) if admin_token else None
        self.insecure = insecure

    def role(self, authorization: str | None) -> Role:
        if self.insecure:
            return Role.ADMIN
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise RpcError("unauthenticated", "authentication required: send 'Authorization: Bearer TOKEN'")
        if self.admin_hash is not None and hmac.compare_digest(token_hash(token), self.admin_hash):
            return Role.ADMIN
        info = self.registry.token(token)  # looked up by hash: no timing side channel on the token
        if info is None:
            raise RpcError("unauthenticated", "unknown or revoked token")
        return info.role
