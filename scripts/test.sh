#!/usr/bin/env bash
# `make test`: install what is missing, start PostgreSQL and Redis, lint, run the whole suite.
# Extra pytest arguments pass through: make test ARGS="-k binding".
source "$(dirname "$0")/bootstrap.sh"
ensure_apt softhsm2 redis-server postgresql chromium fonts-noto-cjk fonts-wqy-microhei openssl
ensure_venv
ensure_divisions
ensure_swagger_ui
ensure_redis
ensure_postgres
cd "$ROOT"
log "ruff"
"$VENV/bin/ruff" check .
log "import contracts (lint-imports)"
"$VENV/bin/lint-imports" --no-cache
log "pytest $*"
exec "$VENV/bin/python" -m pytest "$@"
