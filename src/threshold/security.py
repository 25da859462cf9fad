"""Passwords (argon2), short-lived tokens (JWT) and partner API keys (prefix + SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from threshold.errors import Unauthorized

_hasher = PasswordHasher()
# Verifying against a dummy hash when the user is unknown keeps timing the same either way.
_DUMMY = _hasher.hash("threshold-dummy-password")


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches; constant work whether or not the user exists."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def issue_token(secret: str, subject: str, role: str, ttl_seconds: int, now: datetime) -> str:
    """A signed, short-lived bearer token for a driver or a household member."""
    claims = {"sub": subject, "role": role, "iat": int(now.timestamp()),
              "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp())}
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token(secret: str, token: str, role: str, now: datetime) -> dict[str, Any]:
    """Decode and check a bearer token for the expected role, judged at `now` (the app's clock)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"],
            options={"require": ["exp", "sub", "role"], "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise Unauthorized("The token is not valid.", code="token_invalid") from exc
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= int(now.timestamp()):
        raise Unauthorized("The token has expired.", code="token_expired")
    if claims.get("role") != role:
        raise Unauthorized("The token is not valid here.", code="token_invalid")
    return claims


def new_api_key() -> tuple[str, str, str]:
    """A new partner key: (full key shown once, lookup prefix, stored hash)."""
    prefix = "thr_" + secrets.token_hex(6)
    key = prefix + "_" + secrets.token_urlsafe(32)
    return key, prefix, hash_api_key(key)


def hash_api_key(key: str) -> str:
    """SHA-256 of a key (keys are long and random, so a slow hash adds nothing)."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str:
    """The lookup prefix of a presented key."""
    return "_".join(key.split("_")[:2])


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a, b)


def new_secret_token() -> tuple[str, str]:
    """A random link token and its hash (guests present the token; only the hash is stored)."""
    token = secrets.token_urlsafe(24)
    return token, hashlib.sha256(token.encode()).hexdigest()


def hash_token(token: str) -> str:
    """Hash a presented link token for lookup."""
    return hashlib.sha256(token.encode()).hexdigest()
