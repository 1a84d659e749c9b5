"""Helper configuration (DESIGN §7): the helper's own defaults, then an optional JSON file, then the environment.

The keys and their defaults are the same as the server's `config/` has for them (the backend writes the helper's
settings in `make run`), but the helper ships alone to the customer's PC and reads nothing of the server.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAX_SESSION_HOLD_SECONDS = 120  # DESIGN §5: one PIN per renewal flow, the session kept at most 120 s

# key -> default; an environment value is converted to the type of the default (int, comma-separated list).
DEFAULTS: dict[str, Any] = {
    "PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so",  # PKCS#11 module(s) of the customers' keys, comma-separated
    "HELPER_PORT": 28730,  # port on 127.0.0.1
    "HELPER_ALLOWED_ORIGINS": ["http://127.0.0.1:5000", "http://localhost:5000"],  # binding-site origins, exact
    "HELPER_TICKET_PUBLIC_KEYS": [],  # base64 Ed25519 public keys the helper accepts tickets from
    "HELPER_SESSION_HOLD_SECONDS": MAX_SESSION_HOLD_SECONDS,  # a renewal flow's logged-in session, never the PIN
    "HELPER_DATA_DIR": "",  # used tickets and PIN attempts (`store`); "" = the user's application data directory
}
KEYS = tuple(DEFAULTS)


class HelperConfigError(RuntimeError):
    """The helper's configuration cannot be used; `problems` lists each reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("configuration refused: " + "; ".join(problems))


def from_environment(key: str, raw: str) -> Any:
    """An environment value as the type of the key's default."""
    default = DEFAULTS[key]
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise HelperConfigError([f"{key} must be an integer, got {raw!r}"]) from None
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


@dataclass
class HelperConfig:
    modules: list[str]
    port: int
    allowed_origins: list[str]
    ticket_public_keys: list[Ed25519PublicKey] = field(default_factory=list)
    session_hold_seconds: int = MAX_SESSION_HOLD_SECONDS
    data_dir: str | None = None  # None: the store lives in memory (the entry point sets the default directory)

    @property
    def allowed_hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    @classmethod
    def load(cls, path: str | Path | None = None, environ: dict[str, str] | None = None) -> HelperConfig:
        """Defaults, then the JSON file at `path` (keys of DEFAULTS only), then `environ` (os.environ when None).
        Raises HelperConfigError naming each problem."""
        environ = os.environ if environ is None else environ
        values = copy.deepcopy(DEFAULTS)
        if path:
            from_file = json.loads(Path(path).read_text(encoding="utf-8"))
            unknown = set(from_file) - set(KEYS)
            if unknown:
                raise HelperConfigError([f"unknown helper config keys: {sorted(unknown)}"])
            values.update(from_file)
        for key in KEYS:
            if key in environ:
                values[key] = from_environment(key, environ[key])
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
            raise HelperConfigError(problems)
        return cls(modules=[m for m in modules if m], port=int(values["HELPER_PORT"]), allowed_origins=origins,
                   ticket_public_keys=keys, session_hold_seconds=hold,
                   data_dir=str(values["HELPER_DATA_DIR"]) or None)
