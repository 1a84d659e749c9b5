"""What a customer needs to get started on the PC (DESIGN §7; issue 16): the helper packages in the release
directory (`HELPER_RELEASE_DIR`, each named in its `SHA256SUMS` and matching it), the settings file the helper runs
with, and the version rule: a helper older than `HELPER_MIN_VERSION`, or one that reports no version, is asked to
upgrade."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from wxbackend.core.errors import DomainError, NotFound
from wxbackend.tickets.service import public_key_b64

log = logging.getLogger(__name__)

SUMS_FILE = "SHA256SUMS"
VERSION = re.compile(r"(\d{1,4})\.(\d{1,4})\.(\d{1,4})")
# cagj-ukey-helper-<version>-<platform>[-py<XY>].<exe|pyz>, as scripts/build_helper.sh and windows/build.ps1 name them
RELEASE_NAME = re.compile(r"cagj-ukey-helper-(?P<version>\d{1,4}\.\d{1,4}\.\d{1,4})"
                          r"-(?P<platform>[a-z0-9_]+(?:-[a-z0-9_]+)?)(?:-py(?P<python>3\d{1,2}))?\.(?P<ext>exe|pyz)")
# `sha256sum` output: the digest, a space, a space (text) or `*` (binary), the file name
SUMS_LINE = re.compile(r"(?P<sha256>[0-9a-fA-F]{64}) [ *](?P<name>[^/\\]+)")
PLATFORMS = {  # platform in the file name -> (kind of install steps, what the page calls the system)
    "win64": ("windows", "Windows（64位）"),
    "linux-x86_64": ("unix", "Linux（x86_64）"),
    "linux-aarch64": ("unix", "Linux（ARM64）"),
    "macos-arm64": ("unix", "macOS（Apple 芯片）"),
    "macos-x86_64": ("unix", "macOS（Intel 芯片）"),
}
CHUNK = 1024 * 1024


class HelperOutdated(DomainError):
    code, status = "helper_outdated", 409


@dataclass(frozen=True)
class Release:
    """One downloadable helper package."""

    name: str
    version: str
    platform: str
    kind: str  # windows | unix: which install steps apply
    system: str
    python: str | None  # "3.11" for a single file built for CPython 3.11; None for the .exe
    size: int
    sha256: str

    @property
    def family(self) -> str:
        """windows | linux | macos | the platform itself: which checksum command the page shows for it."""
        return "windows" if self.kind == "windows" else self.platform.split("-")[0]

    @property
    def size_label(self) -> str:
        return f"{self.size / CHUNK:.1f} MB" if self.size >= CHUNK else f"{max(1, round(self.size / 1024))} KB"


def parse_version(text: object) -> tuple[int, int, int] | None:
    """(major, minor, patch) of an `x.y.z` version, or None for anything else."""
    match = VERSION.fullmatch(text) if isinstance(text, str) else None
    return tuple(int(part) for part in match.groups()) if match else None


def minimum_version() -> str:
    return current_app.config["HELPER_MIN_VERSION"]


def check_helper_version(reported: str | None) -> None:
    """Refuse, with the upgrade in Chinese, a helper older than HELPER_MIN_VERSION or one whose version is not
    `x.y.z` (an old helper reports none: the page sends ""). None means the page said nothing (a page from before
    versions were reported) and passes. Raises HelperOutdated.

    A courtesy check that spares the customer a PIN entry bound to fail: the version comes from the page, which is
    not trusted; what guards the key is the helper's own ticket rules."""
    if reported is None:
        return
    minimum = minimum_version()
    version = parse_version(reported)
    if version is None:
        raise HelperOutdated(f"证书助手版本过旧，需要升级：请先在 /pc/download 下载安装 {minimum} 或更高版本的"
                             "证书助手，然后刷新本页面")
    if version < parse_version(minimum):
        raise HelperOutdated(f"证书助手 {reported} 需要升级：请先在 /pc/download 下载安装 {minimum} 或更高版本，"
                             "然后刷新本页面")


def release_dir() -> Path:
    """HELPER_RELEASE_DIR; a relative one is taken from the repository root, as scripts/build_helper.sh does."""
    configured = Path(current_app.config["HELPER_RELEASE_DIR"])
    return configured if configured.is_absolute() else Path(current_app.root_path).parent / configured


def read_sums(directory: Path) -> dict[str, str]:
    """File name -> SHA-256 (lower case) of each line of SHA256SUMS that names a helper package; none when the
    file is missing."""
    try:
        text = (directory / SUMS_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    sums = {}
    for line in text.splitlines():
        match = SUMS_LINE.fullmatch(line.strip())
        if match and RELEASE_NAME.fullmatch(match["name"]):
            sums[match["name"]] = match["sha256"].lower()
        elif line.strip():
            log.warning("%s: ignored line %r", directory / SUMS_FILE, line[:120])
    return sums


_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> SHA-256: each file is hashed once


def file_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def _release(directory: Path, name: str, sha256: str) -> Release | None:
    """The release `name` if it is a regular file directly in `directory` whose content matches its line."""
    path = directory / name
    if not path.is_file() or path.is_symlink() or path.resolve().parent != directory.resolve():
        return None
    if file_sha256(path) != sha256:
        log.error("helper package %s does not match %s: not offered", path, SUMS_FILE)
        return None
    parts = RELEASE_NAME.fullmatch(name)
    kind, system = PLATFORMS.get(parts["platform"], ("unix", parts["platform"]))
    python = f"{parts['python'][0]}.{parts['python'][1:]}" if parts["python"] else None
    return Release(name=name, version=parts["version"], platform=parts["platform"], kind=kind, system=system,
                   python=python, size=path.stat().st_size, sha256=sha256)


def list_releases() -> list[Release]:
    """Every package in the release directory that SHA256SUMS names and matches, newest version first, Windows
    before the single files."""
    directory = release_dir()
    found = [release for name, sha256 in read_sums(directory).items()
             if (release := _release(directory, name, sha256))]
    return sorted(found, key=lambda r: (tuple(-n for n in parse_version(r.version)), r.kind != "windows", r.name))


def release_file(name: str) -> Path:
    """The path of the package `name` to send; NotFound unless SHA256SUMS names it and it matches."""
    directory = release_dir()
    sha256 = read_sums(directory).get(name) if RELEASE_NAME.fullmatch(name) else None
    if sha256 is None or _release(directory, name, sha256) is None:
        raise NotFound("没有这个文件")
    return directory / name


def helper_settings() -> dict:
    """The `helper.json` for this backend: its binding-site origins, the ticket keys it signs with, the helper's
    port and the PKCS#11 modules of the customers' keys (DESIGN §7)."""
    config = current_app.config
    modules = config["PKCS11_MODULE"]
    return {
        "PKCS11_MODULE": [m.strip() for m in modules.split(",") if m.strip()] if isinstance(modules, str)
        else list(modules),
        "HELPER_PORT": config["HELPER_PORT"],
        "HELPER_ALLOWED_ORIGINS": list(config["HELPER_ALLOWED_ORIGINS"]),
        "HELPER_TICKET_PUBLIC_KEYS": list(config["HELPER_TICKET_PUBLIC_KEYS"]) or [public_key_b64()],
    }
