"""Helper configuration: the shared defaults of `config/`, then an optional JSON file, then the environment."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import config as shared

KEYS = ("PKCS11_MODULE", "HELPER_PORT", "HELPER_ALLOWED_ORIGINS", "HELPER_TICKET_PUBLIC_KEYS",
        "HELPER_SESSION_HOLD_SECONDS")
MAX_SESSION_HOLD_SECONDS = 120  # DESIGN §5: one PIN per renewal flow, the session kept at most 120 s


@dataclass
class HelperConfig:
    modules: list[str]
    port: int
    allowed_origins: list[str]
    ticket_public_keys: list[Ed25519PublicKey] = field(default_factory=list)
    session_hold_seconds: int = MAX_SESSION_HOLD_SECONDS

    @property
    def allowed_hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    @classmethod
    def load(cls, path: str | Path | None = None, environ: dict[str, str] | None = None) -> HelperConfig:
        environ = os.environ if environ is None else environ
        values = {key: shared.DEFAULTS[key][0] for key in KEYS}
        if path:
            from_file = json.loads(Path(path).read_text(encoding="utf-8"))
            unknown = set(from_file) - set(KEYS)
            if unknown:
                raise shared.ConfigError([f"unknown helper config keys: {sorted(unknown)}"])
            values.update(from_file)
        for key in KEYS:
            if key in environ:
                values[key] = shared._convert(key, environ[key], shared.DEFAULTS[key][0])
        modules = values["PKCS11_MODULE"]
        modules = [m.strip() for m in modules.split(",")] if isinstance(modules, str) else list(modules)
        origins = list(values["HELPER_ALLOWED_ORIGINS"])
        problems = [f"origin {o!r} is not allowed (exact origins only)" for o in origins if o in ("*", "null", "")]
        keys = []
        for encoded in values["HELPER_TICKET_PUBLIC_KEYS"]:
            try:
                keys.append(Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded, validate=True)))
            except ValueError:
                problems.append(f"ticket public key {encoded[:12]}… is not a base64 Ed25519 public key")
        hold = int(values["HELPER_SESSION_HOLD_SECONDS"])
        if not 0 < hold <= MAX_SESSION_HOLD_SECONDS:
            problems.append(f"HELPER_SESSION_HOLD_SECONDS must be 1..{MAX_SESSION_HOLD_SECONDS}, got {hold}")
        if problems:
            raise shared.ConfigError(problems)
        return cls(modules=[m for m in modules if m], port=int(values["HELPER_PORT"]), allowed_origins=origins,
                   ticket_public_keys=keys, session_hold_seconds=hold)
