"""下载证书助手 (issue 16): /pc/download lists what the release directory's SHA256SUMS names and matches, sends only
those files, offers helper.json; the PC start endpoints refuse a helper older than HELPER_MIN_VERSION; the WeChat
menu and the phone's binding page lead to the download page."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from config import ConfigError, load_config
from tests.support.flows import sign_in
from ukey_helper import __version__
from ukey_helper.config import HelperConfig
from wxbackend.helper_releases.service import HelperOutdated, check_helper_version, parse_version
from wxbackend.tickets.service import public_key_b64
from wxbackend.wechat.menu import build_menu
from wxbackend.wechat.replies import click_reply

LINUX = "cagj-ukey-helper-1.2.0-linux-x86_64-py311.pyz"
WINDOWS = "cagj-ukey-helper-1.2.0-win64.exe"
OLDER = "cagj-ukey-helper-1.0.0-linux-x86_64-py311.pyz"


def publish(directory, files: dict[str, bytes], listed: dict[str, bytes] | None = None, extra_lines=()):
    """Write `files` into the release directory and SHA256SUMS for `listed` (default: all of them)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    listed = files if listed is None else listed
    lines = [f"{hashlib.sha256(content).hexdigest()}  {name}" for name, content in listed.items()]
    (directory / "SHA256SUMS").write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")


@pytest.fixture
def releases(app, tmp_path, monkeypatch):
    directory = tmp_path / "releases"
    monkeypatch.setitem(app.config, "HELPER_RELEASE_DIR", str(directory))
    return directory


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-file="([^"]+)">', html)


def test_the_page_lists_each_listed_build_with_version_size_and_checksum(client, releases):
    linux, windows, older = b"L" * 3 * 1024 * 1024, b"W" * 2048, b"O" * 10
    publish(releases, {LINUX: linux, WINDOWS: windows, OLDER: older})
    page = client.get("/pc/download")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert rows(html) == [WINDOWS, LINUX, OLDER]  # newest first, Windows before the single file
    assert hashlib.sha256(linux).hexdigest() in html and hashlib.sha256(windows).hexdigest() in html
    assert "3.0 MB" in html and "2 KB" in html and "需要 Python 3.11" in html and "Windows（64位）" in html
    assert f"python3 {LINUX} --config helper.json" in html
    assert f"certutil -hashfile {WINDOWS} SHA256" in html and f"sha256sum {LINUX}" in html
    assert "shasum -a 256 cagj-ukey-helper-版本号-系统-py311.pyz" in html  # no macOS file: no name of another's
    assert "防火墙" in html and "双击运行" in html
    assert 'id="no-windows"' not in html and "macOS 版证书助手尚未发布到本站" in html
    assert "http://127.0.0.1:5000/pc/download" in html  # the address to type on the PC, for a phone reader


def test_without_a_windows_build_the_page_says_so(client, releases):
    mac = "cagj-ukey-helper-1.2.0-macos-arm64-py311.pyz"
    publish(releases, {LINUX: b"L", mac: b"M"})
    html = client.get("/pc/download").get_data(as_text=True)
    assert rows(html) == [LINUX, mac]
    assert "Windows 版证书助手尚未发布到本站" in html and 'id="no-macos"' not in html
    assert f"shasum -a 256 {mac}" in html and f"sha256sum {LINUX}" in html and "macOS（Apple 芯片）" in html


def test_an_empty_or_missing_release_directory_offers_nothing(client, releases):
    html = client.get("/pc/download").get_data(as_text=True)
    assert rows(html) == [] and "暂无可下载的证书助手" in html


def test_a_listed_file_is_sent_as_an_attachment(client, releases):
    publish(releases, {LINUX: b"zipapp bytes"})
    sent = client.get(f"/pc/download/{LINUX}")
    assert sent.status_code == 200 and sent.data == b"zipapp bytes"
    assert sent.headers["Content-Disposition"] == f"attachment; filename={LINUX}"
    assert sent.headers["Content-Type"] == "application/octet-stream"


def test_only_what_sha256sums_lists_and_matches_is_offered(client, releases, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for download")
    publish(releases, {LINUX: b"listed", WINDOWS: b"on disk, not listed", OLDER: b"tampered"},
            listed={LINUX: b"listed", OLDER: b"the bytes it was listed with"},
            extra_lines=[f"{'0' * 64}  ../secret.txt", f"{'0' * 64}  {secret}", "not a line"])
    (releases / "cagj-ukey-helper-1.1.0-linux-x86_64-py311.pyz").symlink_to(secret)
    html = client.get("/pc/download").get_data(as_text=True)
    assert rows(html) == [LINUX]
    for name in [WINDOWS, OLDER, "SHA256SUMS", "cagj-ukey-helper-1.1.0-linux-x86_64-py311.pyz", "secret.txt",
                 "..", "..%2Fsecret.txt", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "../secret.txt",
                 "../../etc/passwd", f"..%2F{releases.name}%2F{LINUX}"]:
        refused = client.get(f"/pc/download/{name}", follow_redirects=True)
        assert refused.status_code == 404, name
        assert "not for download" not in refused.get_data(as_text=True)
    assert client.get("/pc/download//etc/passwd", follow_redirects=True).status_code == 404
    assert client.get(f"/pc/download/{LINUX}").status_code == 200


def test_helper_json_is_this_backends_settings_and_the_helper_reads_it(app, client, tmp_path):
    sent = client.get("/pc/download/helper.json")
    assert sent.status_code == 200
    assert sent.headers["Content-Disposition"] == "attachment; filename=helper.json"
    settings = json.loads(sent.data)
    assert settings == {"PKCS11_MODULE": [app.config["PKCS11_MODULE"]], "HELPER_PORT": app.config["HELPER_PORT"],
                        "HELPER_ALLOWED_ORIGINS": app.config["HELPER_ALLOWED_ORIGINS"],
                        "HELPER_TICKET_PUBLIC_KEYS": [public_key_b64()]}
    path = tmp_path / "helper.json"
    path.write_bytes(sent.data)
    cfg = HelperConfig.load(path, environ={})
    assert cfg.allowed_origins == app.config["HELPER_ALLOWED_ORIGINS"] and len(cfg.ticket_public_keys) == 1


@pytest.mark.parametrize(("reported", "minimum", "refused"), [
    (None, "1.0.0", False),  # the page said nothing: a page from before versions
    ("1.0.0", "1.0.0", False), ("1.2.0", "1.0.0", False), ("1.10.0", "1.9.3", False), ("2.0.0", "1.99.99", False),
    ("", "1.0.0", True), ("0.9.9", "1.0.0", True), ("1.9.9", "1.10.0", True), ("1.0", "1.0.0", True),
    ("1.0.0-beta", "1.0.0", True), ("latest", "1.0.0", True),
])
def test_the_version_rule(app, monkeypatch, reported, minimum, refused):
    monkeypatch.setitem(app.config, "HELPER_MIN_VERSION", minimum)
    with app.app_context():
        if refused:
            with pytest.raises(HelperOutdated) as error:
                check_helper_version(reported)
            assert error.value.code == "helper_outdated" and minimum in error.value.message
            assert "/pc/download" in error.value.message
        else:
            check_helper_version(reported)
    assert parse_version("1.2.3") == (1, 2, 3) and parse_version(" 1.2.3") is None


def test_the_pc_start_endpoints_refuse_an_outdated_helper(app, pc, demo_key, monkeypatch):
    pem = demo_key.certificate.pem
    assert pc.post("/pc/api/bind/start", json={"certificate": pem, "helper_version": __version__}).status_code == 200
    assert pc.post("/pc/api/bind/start", json={"certificate": pem}).status_code == 200  # not said: not refused
    monkeypatch.setitem(app.config, "HELPER_MIN_VERSION", "9.0.0")
    refused = pc.post("/pc/api/bind/start", json={"certificate": pem, "helper_version": __version__})
    assert refused.status_code == 409
    assert refused.json == {"code": "helper_outdated", "message": f"证书助手 {__version__} 需要升级：请先在 "
                            "/pc/download 下载安装 9.0.0 或更高版本，然后刷新本页面"}
    none = pc.post("/pc/api/bind/start", json={"certificate": pem, "helper_version": ""})
    assert none.status_code == 409 and none.json["message"].startswith("证书助手版本过旧")
    renew = pc.post("/pc/api/renew/start", json={"certificate": pem, "key_ids": [], "helper_version": "1.0.0"})
    assert renew.status_code == 409 and renew.json["code"] == "helper_outdated"


def test_helper_min_version_is_a_version_and_defaults_to_the_helpers():
    assert load_config(environ={})["HELPER_MIN_VERSION"] == __version__
    with pytest.raises(ConfigError, match="HELPER_MIN_VERSION must be a version"):
        load_config(environ={"HELPER_MIN_VERSION": "1.0"})


def test_the_menu_opens_the_download_page():
    menu = build_menu("https://ca.example.cn")
    [download] = [b for top in menu["button"] for b in top["sub_button"] if b["name"] == "下载证书助手"]
    assert download == {"type": "view", "name": "下载证书助手", "url": "https://ca.example.cn/pc/download"}
    # a client still showing the older menu sends the old key: its reply names the page too
    assert "https://ca.example.cn/pc/download" in click_reply("https://ca.example.cn", "HELPER_DOWNLOAD")


def test_the_phones_binding_page_shows_the_pc_addresses(client):
    sign_in(client, "张三")
    html = client.get("/h5/bind").get_data(as_text=True)
    assert '<span class="cell-bd url" id="pc-bind-url">http://127.0.0.1:5000/pc/bind</span>' in html
    assert '<span class="cell-bd url" id="pc-download-url">http://127.0.0.1:5000/pc/download</span>' in html
