#!/usr/bin/env bash
# `make helper`: build the key helper's single-file package for this platform, a shiv zipapp made from
# helper_protocol/ and ukey_helper/ with the pinned wheels of ukey_helper/packaging/requirements.txt, into the
# release directory (HELPER_RELEASE_DIR, default var/helper-releases/), then write that directory's SHA256SUMS.
#
#   scripts/build_helper.sh               build this platform's file (again)
#   scripts/build_helper.sh --if-missing  build only when this platform's file of the current version is absent
#                                         (what `make run` does)
#   scripts/build_helper.sh --sums        only rewrite SHA256SUMS, e.g. after copying in the Windows .exe
#
# The file is cagj-ukey-helper-<version>-<platform>-py<XY>.pyz: python-pkcs11 is compiled, so a file is for one
# OS, one CPU and one Python minor version (this machine's). On a Mac the same command makes the macOS file.
# Offline after the first build: the wheels are kept in var/helper-build/wheels/ and pip reaches PyPI only for
# the ones missing there. The build is reproducible: same commit, same wheels, same bytes (SOURCE_DATE_EPOCH is
# the commit's time unless set).
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT"
MODE="${1:-build}"
case "$MODE" in build|--if-missing|--sums) ;; *) echo "usage: $0 [--if-missing|--sums]" >&2; exit 2 ;; esac
ensure_venv
PY="$VENV/bin/python"

release_dir() {  # the environment, else .env, else the default of config/__init__.py
  local dir="${HELPER_RELEASE_DIR:-}"
  if [ -z "$dir" ] && [ -f .env ]; then dir="$(sed -n 's/^HELPER_RELEASE_DIR=//p' .env | tail -n1)"; fi
  dir="${dir:-var/helper-releases}"
  case "$dir" in /*) echo "$dir" ;; *) echo "$ROOT/$dir" ;; esac
}
RELEASE_DIR="$(release_dir)"
mkdir -p "$RELEASE_DIR"

write_sums() {  # every helper build in the release directory, as `sha256sum -c SHA256SUMS` reads it
  (cd "$RELEASE_DIR" && shopt -s nullglob && files=(cagj-ukey-helper-*.pyz cagj-ukey-helper-*.exe) &&
    { [ ${#files[@]} -eq 0 ] || sha256sum -- "${files[@]}"; } >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
  log "SHA256SUMS in $RELEASE_DIR"
}
if [ "$MODE" = "--sums" ]; then write_sums; exit 0; fi

VERSION="$("$PY" -c 'import ukey_helper; print(ukey_helper.__version__)')"
PROTOCOL_VERSION="$("$PY" -c 'import helper_protocol; print(helper_protocol.__version__)')"
PY_TAG="$("$PY" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')"
# Linux: wheels for glibc 2.28 and later (Debian 10+, Ubuntu 20.04+, RHEL 8+), not just this machine's glibc.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PLATFORM=linux-x86_64; PIP_PLATFORM=(--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64) ;;
  Linux-aarch64) PLATFORM=linux-aarch64; PIP_PLATFORM=(--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64) ;;
  Darwin-arm64) PLATFORM=macos-arm64; PIP_PLATFORM=() ;;
  Darwin-x86_64) PLATFORM=macos-x86_64; PIP_PLATFORM=() ;;
  *) echo "no single-file build for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
NAME="cagj-ukey-helper-$VERSION-$PLATFORM-$PY_TAG.pyz"
if [ "$MODE" = "--if-missing" ] && [ -f "$RELEASE_DIR/$NAME" ] && grep -qs "  $NAME\$" "$RELEASE_DIR/SHA256SUMS"; then
  exit 0
fi

BUILD="$ROOT/var/helper-build"
WHEELS="$BUILD/wheels"
REQUIREMENTS="$ROOT/ukey_helper/packaging/requirements.txt"
STAGE="$BUILD/stage"
started=$SECONDS
log "key helper $VERSION: $NAME"
rm -rf "$STAGE"
mkdir -p "$STAGE/src" "$WHEELS"
# Copies of the two packages: pip builds them in their directory, and the repository keeps no build output.
for package in helper_protocol ukey_helper; do
  (cd "$ROOT" && tar --exclude=__pycache__ --exclude=build --exclude='*.egg-info' --exclude=packaging -cf - "$package") |
    tar -xf - -C "$STAGE/src"
done

PIP=("$PY" -m pip --disable-pip-version-check --no-input)
# Our two packages as wheels, built with this virtualenv's setuptools and wheel (no index needed) ...
"${PIP[@]}" wheel --quiet --no-deps --no-build-isolation --no-index -w "$STAGE/local" \
  "$STAGE/src/helper_protocol" "$STAGE/src/ukey_helper"
# ... then everything installed from wheels alone: the pinned ones kept in $WHEELS, fetched when missing.
pip_install() {
  rm -rf "$STAGE/site-packages"
  "${PIP[@]}" install --quiet --no-compile --no-warn-script-location --only-binary=:all: "${PIP_PLATFORM[@]}" \
    --target "$STAGE/site-packages" --no-index --find-links "$WHEELS" --find-links "$STAGE/local" \
    -r "$REQUIREMENTS" "cagj-helper-protocol==$PROTOCOL_VERSION" "cagj-ukey-helper==$VERSION"
}
if ! pip_install 2>"$BUILD/pip-offline.log"; then
  log "fetching the pinned wheels into $WHEELS"
  "${PIP[@]}" download --quiet --only-binary=:all: "${PIP_PLATFORM[@]}" -d "$WHEELS" -r "$REQUIREMENTS"
  pip_install
fi
# What would differ from one machine to another: console scripts with this venv's path, the build's own paths.
rm -rf "$STAGE/site-packages/bin"
find "$STAGE/site-packages" -name direct_url.json -delete

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}"
"$VENV/bin/shiv" --site-packages "$STAGE/site-packages" --entry-point ukey_helper.__main__:main \
  --python "/usr/bin/env python3" --compressed --reproducible \
  --preamble "$ROOT/ukey_helper/packaging/preamble.py" --output-file "$STAGE/$NAME" >/dev/null
mv "$STAGE/$NAME" "$RELEASE_DIR/$NAME"
rm -rf "$STAGE"
write_sums
log "built $RELEASE_DIR/$NAME ($(du -h "$RELEASE_DIR/$NAME" | cut -f1), $((SECONDS - started)) s)"
