"""The key helper ships alone (DESIGN §7): `helper_protocol` and `ukey_helper` install with pip into a fresh
virtualenv and run there, and neither imports anything of the server."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import config as server_config
from helper_protocol import errors as codes
from helper_protocol.tickets import OPERATIONS, Ticket, TicketFormatError, b64url, decode_payload, split_ticket
from ukey_helper import __version__
from ukey_helper.config import DEFAULTS, HelperConfig, HelperConfigError
from ukey_helper.errors import MESSAGES

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = {"wxbackend", "config", "binding_site", "jobs", "fakes", "tests"}
HELPER_THIRD_PARTY = {"flask", "werkzeug", "waitress", "pkcs11", "cryptography", "asn1crypto"}
# Imported in a subprocess: what is left in sys.modules of the server's packages (and, for helper_protocol alone,
# of any third-party package).
LOADED = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", **extra}


def top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtualenv (no system site-packages) with `pip install ./helper_protocol ./ukey_helper`, from copies
    of the two directories so the in-tree build leaves nothing in the repository. Returns (python, a directory
    outside the repository to run in)."""
    base = tmp_path_factory.mktemp("helper-venv")
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    for package in ("helper_protocol", "ukey_helper"):
        shutil.copytree(ROOT / package, base / "src" / package, ignore=ignore)
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(base / "venv")
    python = base / "venv" / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "./helper_protocol", "./ukey_helper"],
                          cwd=base / "src", env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    outside = base / "elsewhere"
    outside.mkdir()
    return python, outside


def test_the_installed_helper_prints_usage_and_version_outside_the_repository(installed):
    python, outside = installed
    helped = subprocess.run([str(python), "-m", "ukey_helper", "--help"], cwd=outside, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: ukey_helper")
    assert "--config" in helped.stdout and __version__ in helped.stdout
    version = subprocess.run([str(outside.parent / "venv" / "bin" / "ukey-helper"), "--version"], cwd=outside,
                             env=clean_env(), capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"ukey_helper {__version__}"


def test_the_installed_helper_imports_from_its_virtualenv_alone(installed):
    python, outside = installed
    probe = ("import importlib.metadata as md, json, sys, ukey_helper, ukey_helper.app, ukey_helper.__main__; "
             "print(json.dumps({'file': ukey_helper.app.__file__, 'version': md.version('cagj-ukey-helper'), "
             "'protocol': md.version('cagj-helper-protocol'), 'modules': sorted({m.split('.')[0] "
             "for m in sys.modules})}))")
    done = subprocess.run([str(python), "-c", probe], cwd=outside, env=clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert Path(answer["file"]).is_relative_to(outside.parent / "venv")
    assert answer["version"] == __version__ and answer["protocol"] == "1.0.0"
    assert not SERVER_PACKAGES & set(answer["modules"])


def test_importing_the_helper_from_the_repository_loads_nothing_of_the_server():
    probe = ("import ukey_helper, ukey_helper.app, ukey_helper.__main__, ukey_helper.config; "
             "ukey_helper.config.HelperConfig.load(environ={}); " + LOADED)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert {"ukey_helper", "helper_protocol"} <= loaded
    assert not SERVER_PACKAGES & loaded


def test_the_protocol_needs_the_standard_library_only():
    probe = "import helper_protocol.errors, helper_protocol.tickets; " + LOADED
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert not (SERVER_PACKAGES | HELPER_THIRD_PARTY | {"ukey_helper"}) & set(json.loads(done.stdout))


def test_no_module_crosses_between_the_helper_and_the_server():
    """Static, so that an import inside a function or a rarely loaded module is caught too."""
    for package in ("ukey_helper", "helper_protocol"):
        for path in (ROOT / package).glob("*.py"):
            assert not SERVER_PACKAGES & top_level_imports(path), path
    for package in ("wxbackend", "binding_site", "jobs", "config"):
        for path in (ROOT / package).rglob("*.py"):
            assert "ukey_helper" not in top_level_imports(path), path


def test_the_helpers_defaults_are_the_servers():
    assert {key: server_config.DEFAULTS[key][0] for key in DEFAULTS} == DEFAULTS


def test_the_helper_reads_the_environment_over_the_file(tmp_path):
    path = tmp_path / "helper.json"
    path.write_text(json.dumps({"HELPER_PORT": 29001, "HELPER_ALLOWED_ORIGINS": ["https://bind.example.cn"]}))
    cfg = HelperConfig.load(path, environ={"HELPER_PORT": "29002", "PKCS11_MODULE": "/a.so, /b.so"})
    assert cfg.port == 29002 and cfg.modules == ["/a.so", "/b.so"]
    assert cfg.allowed_origins == ["https://bind.example.cn"] and cfg.session_hold_seconds == 120
    defaults = HelperConfig.load(environ={})
    assert defaults.port == 28730 and defaults.allowed_origins == ["http://127.0.0.1:5000", "http://localhost:5000"]
    with pytest.raises(HelperConfigError, match="HELPER_PORT must be an integer"):
        HelperConfig.load(environ={"HELPER_PORT": "many"})
    with pytest.raises(HelperConfigError, match="exact origins only"):
        HelperConfig.load(environ={"HELPER_ALLOWED_ORIGINS": "*"})
    path.write_text(json.dumps({"SECRET_KEY": "x"}))
    with pytest.raises(HelperConfigError, match="unknown helper config keys"):
        HelperConfig.load(path, environ={})


def test_every_shared_error_code_has_a_chinese_message():
    assert set(MESSAGES) == codes.ERROR_CODES
    assert {codes.TOKEN_ABSENT, codes.MULTIPLE_TOKENS, codes.PIN_INCORRECT, codes.PIN_LOCKED, codes.TICKET_INVALID,
            codes.TICKET_EXPIRED, codes.KEY_MISMATCH, codes.WRITE_FAILED} <= codes.ERROR_CODES
    assert OPERATIONS == {"sign", "keygen", "install", "cleanup", "counter_keygen", "counter_install"}


@pytest.mark.parametrize("wire", [None, 7, "no-dot", "a.b.c", "x" * 4097, "e30.a", "e30.签名"])
def test_what_is_not_a_ticket(wire):
    with pytest.raises(TicketFormatError):
        split_ticket(wire)


def test_a_payload_is_read_only_with_its_fields():
    with pytest.raises(TicketFormatError):
        decode_payload(b64url(json.dumps({"op": "sign"}).encode()).encode())
    payload = {"jti": 1, "op": "sign", "ch": b64url(b"c"), "ts": "T", "iat": 1, "exp": 2, "ord": 5}
    assert decode_payload(b64url(json.dumps(payload).encode()).encode()) == Ticket(
        jti="1", op="sign", challenge=b"c", cert_serial="", token_serial="T", exp=2, iat=1, order_id=5)
