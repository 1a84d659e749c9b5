"""Secrets from config, or (development only) generated once and kept in var/."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from flask import current_app


def configured_or_development_secret(config_key: str, filename: str) -> bytes:
    """A base64 32-byte secret from config; in development (the key empty, which production refuses) one
    generated once and kept in var/`filename`."""
    encoded = current_app.config[config_key]
    if not encoded:
        path = Path(current_app.instance_path) / filename
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
            path.chmod(0o600)
        encoded = path.read_text().strip()
    return base64.b64decode(encoded)
