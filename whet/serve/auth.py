"""API and admin keys: bearer tokens read from files or environment variables.

Keys are kept as SHA-256 digests and a token is compared against every key with
``hmac.compare_digest``, so neither the match nor its position leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from whet.errors import ConfigError

API_KEYS_ENV = "WHET_API_KEYS"
ADMIN_KEYS_ENV = "WHET_ADMIN_KEYS"
MIN_KEY_LENGTH = 16


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def key_id(token: str) -> str:
    """A short, non-reversible name for a key, for logs and rate limiting."""
    return "key-" + _digest(token).hex()[:10]


@dataclass(frozen=True)
class KeySet:
    digests: tuple[bytes, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.digests)

    def matches(self, token: str) -> bool:
        digest = _digest(token)
        found = False
        for known in self.digests:  # no early exit: every key is compared
            found |= hmac.compare_digest(digest, known)
        return found


@dataclass(frozen=True)
class Keys:
    api: KeySet
    admin: KeySet

    def is_api(self, token: str) -> bool:
        return self.api.matches(token) or self.admin.matches(token)

    def is_admin(self, token: str) -> bool:
        return self.admin.matches(token)


def read_keys(path: str | None, env_name: str) -> KeySet:
    """Keys from a file (one per line, '#' comments) and a comma-separated environment variable."""
    keys: list[str] = []
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"key file {path} not found; give a file with one key per line")
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            key = line.strip()
            if key and not key.startswith("#"):
                keys.append(_checked(key, f"{path}:{number}"))
    for key in os.environ.get(env_name, "").split(","):
        if key.strip():
            keys.append(_checked(key.strip(), env_name))
    return KeySet(tuple(_digest(k) for k in keys))


def _checked(key: str, where: str) -> str:
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"{where}: a key has {len(key)} characters; use at least {MIN_KEY_LENGTH} "
                          f"random characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if any(c.isspace() for c in key):
        raise ConfigError(f"{where}: a key contains whitespace; keys are single words")
    return key


def load_keys(api_keys_file: str | None, admin_keys_file: str | None) -> Keys:
    return Keys(api=read_keys(api_keys_file, API_KEYS_ENV), admin=read_keys(admin_keys_file, ADMIN_KEYS_ENV))
