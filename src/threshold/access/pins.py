"""Keypad PINs at rest: sealed with AES-GCM under the keypad key, each bound to its code's row.

The stored form is `v1:` followed by base64(nonce || ciphertext || tag). The associated data names the row (the
code's id, its guest grant, its lock and slot), so a sealed PIN copied onto another row does not open. The key is
THRESHOLD_KEYPAD_KEY (base64 of 32 bytes); when that is unset, a key is derived from THRESHOLD_SECRET_KEY with
HKDF under a fixed label, so the demo works with no extra setting.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from threshold.config import Settings

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
# The derived key depends on this label: changing it would leave every stored PIN unreadable.
DERIVE_LABEL = b"threshold keypad pins v1"


class PinError(Exception):
    """A stored PIN that does not open: another key, another row's ciphertext, or a damaged value."""


class KeySettingError(ValueError):
    """A keypad key that is not 32 bytes (or THRESHOLD_KEYPAD_KEY not base64 of 32 bytes)."""


@dataclass(frozen=True, slots=True)
class Row:
    """What a sealed PIN is bound to: its code's id, guest grant, lock and slot."""

    code_id: uuid.UUID
    grant_id: uuid.UUID
    device_id: uuid.UUID
    slot: int

    def associated(self) -> bytes:
        """The associated data AES-GCM authenticates with the PIN."""
        return f"keypad-code:{self.code_id}:{self.grant_id}:{self.device_id}:{self.slot}".encode()


class PinBox:
    """Seals PINs for storage and opens them again, under one key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeySettingError(f"a keypad key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "PinBox(key=<hidden>)"

    def seal(self, pin: str, row: Row) -> str:
        """The stored form of a PIN for this row; a fresh nonce each time, so equal PINs do not look equal."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, pin.encode(), row.associated())
        return f"{VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, stored: str, row: Row) -> str:
        """The PIN a row's stored value holds; PinError when it was sealed under another key or for another row."""
        version, _, body = stored.partition(":")
        if version != VERSION or not body:
            raise PinError(f"keypad code {row.code_id}: the stored PIN is not a sealed {VERSION} value")
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise PinError(f"keypad code {row.code_id}: the stored PIN is damaged (not base64)") from None
        if len(raw) <= NONCE_BYTES:
            raise PinError(f"keypad code {row.code_id}: the stored PIN is damaged (too short)")
        try:
            pin = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], row.associated())
        except InvalidTag:
            # AES-GCM cannot tell these apart, so the message names every cause.
            raise PinError(f"keypad code {row.code_id}: the stored PIN does not open: it was sealed under "
                           "another keypad key (THRESHOLD_KEYPAD_KEY or THRESHOLD_SECRET_KEY changed), "
                           "copied from another code, or altered") from None
        return pin.decode()


def derive_key(secret_key: str) -> bytes:
    """The keypad key derived from the secret key, for installations that set no keypad key of their own."""
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=DERIVE_LABEL).derive(secret_key.encode())


def parse_key(encoded: str) -> bytes:
    """A keypad key from its setting: base64 (standard or URL-safe) of exactly 32 bytes."""
    text = encoded.strip()
    try:
        key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error:
        raise KeySettingError("THRESHOLD_KEYPAD_KEY is not base64: make one with "
                        "`python -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())'`") from None
    if len(key) != KEY_BYTES:
        raise KeySettingError(f"THRESHOLD_KEYPAD_KEY must be base64 of {KEY_BYTES} bytes, not {len(key)}")
    return key


def box_for(settings: Settings) -> PinBox:
    """The PinBox the settings ask for: the keypad key when set, else one derived from the secret key."""
    return PinBox(parse_key(settings.keypad_key) if settings.keypad_key else derive_key(settings.secret_key))
