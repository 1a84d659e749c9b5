"""SoftHSM2 plumbing: a config file with its own token directory, tokens made and removed with softhsm2-util."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class SoftHsmError(RuntimeError):
    pass


def ensure_conf(conf_path: str | Path) -> Path:
    """Create `conf_path` (and its token directory beside it) when missing; returns the path."""
    conf_path = Path(conf_path)
    if not conf_path.exists():
        token_dir = conf_path.parent / "tokens"
        token_dir.mkdir(parents=True, exist_ok=True)
        conf_path.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
                             "slots.removable = true\n", encoding="utf-8")
    return conf_path


def _util(conf_path: Path, *args: str) -> str:
    exe = shutil.which("softhsm2-util")
    if exe is None:
        raise SoftHsmError("softhsm2-util not found: install the softhsm2 package")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf_path)}
    done = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SoftHsmError(f"softhsm2-util {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def token_serials(conf_path: str | Path) -> dict[str, str]:
    """serial -> label of every initialised token in this SoftHSM2 configuration."""
    out = _util(Path(conf_path), "--show-slots")
    tokens, label = {}, None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Label:"):
            label = line.split(":", 1)[1].strip()
        elif line.startswith("Serial number:"):
            serial = line.split(":", 1)[1].strip()
            if serial:
                tokens[serial] = label or ""
    return tokens


def init_token(conf_path: str | Path, label: str, pin: str, so_pin: str) -> str:
    """Make a new token (a new 'key plugged in') and return its serial."""
    conf_path = ensure_conf(conf_path)
    before = set(token_serials(conf_path))
    _util(conf_path, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin)
    new = set(token_serials(conf_path)) - before
    if len(new) != 1:
        raise SoftHsmError("could not find the token just made")
    return new.pop()


def delete_token(conf_path: str | Path, serial: str) -> None:
    """Remove a token (the 'key pulled out')."""
    _util(Path(conf_path), "--delete-token", "--serial", serial)
