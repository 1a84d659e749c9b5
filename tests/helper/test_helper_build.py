"""The key helper's single file (issue 16): `scripts/build_helper.sh` builds it from helper_protocol/ and
ukey_helper/ with the pinned wheels; it runs from any directory on a Python that has none of its packages, reading
the helper.json beside it; its SHA-256 is the one SHA256SUMS lists and the download page shows."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import config as server_config
from tests.conftest import PC_ORIGIN, PKCS11_MODULE, TICKET_PUBLIC_KEY, free_port
from ukey_helper import __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "ukey_helper" / "packaging"
SYSTEM_PYTHON = Path("/usr/bin/python3")  # Debian's: none of the helper's packages are installed there
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", re.MULTILINE)


def system_python_fits(built) -> bool:
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3")
    probe = "import sys; print(f'py{sys.version_info[0]}{sys.version_info[1]}')"
    done = subprocess.run([str(SYSTEM_PYTHON), "-c", probe], capture_output=True, text=True, check=True)
    return built.path.name.endswith(f"-{done.stdout.strip()}.pyz")


def run_single_file(pyz: Path, *args: str, cwd: Path, timeout: float = 120, **kw):
    """`python3 <file> args…` as a customer runs it: Debian's Python, isolated (no PYTHONPATH, no user site), in
    a directory of its own, shiv extracting into that directory."""
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "LANG": "C.UTF-8", "SHIV_ROOT": str(cwd / "shiv"), **kw}
    return subprocess.run([str(SYSTEM_PYTHON), "-I", str(pyz), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def pins(path: Path) -> dict[str, str]:
    return {name.lower(): version for name, version in PIN.findall(path.read_text(encoding="utf-8"))}


def test_the_build_names_its_file_and_is_quick(built_helper):
    machine = {"x86_64": "x86_64", "aarch64": "aarch64"}[platform.machine()]
    python = f"py{sys.version_info[0]}{sys.version_info[1]}"
    assert built_helper.path.name == f"cagj-ukey-helper-{__version__}-linux-{machine}-{python}.pyz"
    print(f"built {built_helper.path.name} ({built_helper.path.stat().st_size} bytes) in {built_helper.seconds:.1f} s")
    assert built_helper.seconds < 120, built_helper.output
    assert not list(ROOT.glob("helper_protocol/*.egg-info")) and not (ROOT / "ukey_helper" / "build").exists()


def test_it_prints_its_version_and_usage_from_any_directory(built_helper, tmp_path):
    if not system_python_fits(built_helper):
        refused = run_single_file(built_helper.path, "--version", cwd=tmp_path)
        assert refused.returncode == 1 and "证书助手无法在 Python" in refused.stderr
        return
    version = run_single_file(built_helper.path, "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"ukey_helper {__version__}"
    helped = run_single_file(built_helper.path, "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: ukey_helper") and "--config" in helped.stdout
    assert __version__ in helped.stdout
    # what ran came out of the file: shiv extracted the packages under SHIV_ROOT
    [extracted] = (tmp_path / "shiv").glob(f"{built_helper.path.name}_*/site-packages")
    assert (extracted / "ukey_helper" / "app.py").exists() and (extracted / "helper_protocol" / "tickets.py").exists()
    assert (extracted / "pkcs11").exists() and not (extracted / "wxbackend").exists()


def test_its_sha256_is_in_sha256sums_and_on_the_download_page(built_helper, app, client, monkeypatch):
    digest = hashlib.sha256(built_helper.path.read_bytes()).hexdigest()
    sums = (built_helper.directory / "SHA256SUMS").read_text(encoding="utf-8")
    assert f"{digest}  {built_helper.path.name}\n" in sums
    checked = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=built_helper.directory, capture_output=True,
                             text=True)
    assert checked.returncode == 0 and f"{built_helper.path.name}: OK" in checked.stdout
    monkeypatch.setitem(app.config, "HELPER_RELEASE_DIR", str(built_helper.directory))
    page = client.get("/pc/download").get_data(as_text=True)
    assert f'<tr data-file="{built_helper.path.name}">' in page and digest in page
    sent = client.get(f"/pc/download/{built_helper.path.name}")
    assert sent.status_code == 200 and hashlib.sha256(sent.data).hexdigest() == digest


def test_the_single_file_serves_the_key_with_the_helper_json_beside_it(built_helper, demo_key, tmp_path):
    if not system_python_fits(built_helper):
        pytest.skip("Debian's Python is not the one this file is for")
    folder = tmp_path / "证书助手"
    folder.mkdir()
    pyz = Path(shutil.copy(built_helper.path, folder))
    port = free_port()
    (folder / "helper.json").write_text(
        f'{{"PKCS11_MODULE": ["{PKCS11_MODULE}"], "HELPER_PORT": {port}, "HELPER_ALLOWED_ORIGINS": ["{PC_ORIGIN}"], '
        f'"HELPER_TICKET_PUBLIC_KEYS": ["{TICKET_PUBLIC_KEY}"]}}', encoding="utf-8")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "SHIV_ROOT": str(tmp_path / "shiv"),
           "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}
    log = (tmp_path / "helper.log").open("w")
    process = subprocess.Popen([str(SYSTEM_PYTHON), "-I", str(pyz)], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT)  # no --config: the helper.json beside the file
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "helper.log").read_text()
            try:
                health = requests.get(f"{url}/v1/health", headers={"Origin": PC_ORIGIN}, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (tmp_path / "helper.log").read_text()
                time.sleep(0.2)
        assert health.json()["helper"] == {"version": __version__}
        token = requests.get(f"{url}/v1/token", headers={"Origin": PC_ORIGIN}, timeout=10)
        assert token.status_code == 200, token.text
        body = token.json()
        assert body["helper"] == {"version": __version__}
        assert body["token"]["serial"] == demo_key.serial
        assert [c["serial"] for c in body["certificates"]] == [demo_key.certificate.serial]
        assert "helper.json" in (tmp_path / "helper.log").read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_building_again_when_present_is_a_no_op(built_helper):
    before = built_helper.path.stat().st_mtime_ns
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build_helper.sh"), "--if-missing"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HELPER_RELEASE_DIR": str(built_helper.directory)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "built" not in done.stdout and built_helper.path.stat().st_mtime_ns == before


def test_the_packages_are_built_from_the_tested_versions():
    helper_pins = pins(PACKAGING / "requirements.txt")
    repository_pins = pins(ROOT / "requirements.txt")
    assert {"flask", "waitress", "python-pkcs11", "cryptography", "asn1crypto"} <= set(helper_pins)
    for name, version in helper_pins.items():
        assert importlib.metadata.version(name) == version, name  # what the test suite runs with
        assert repository_pins.get(name, version) == version, name
    windows = pins(PACKAGING / "windows" / "requirements-build.txt")
    assert windows["pyinstaller"] and windows["pyinstaller-hooks-contrib"]
    assert "shiv" in repository_pins and "wheel" in repository_pins


def test_the_oldest_helper_the_pages_take_is_this_one_by_default():
    assert server_config.DEFAULTS["HELPER_MIN_VERSION"][0] == __version__
    assert server_config.DEFAULTS["HELPER_RELEASE_DIR"][0] == str(server_config.VAR / "helper-releases")
