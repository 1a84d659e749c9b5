#!/usr/bin/env bash
# `make run`: the whole system on one machine with embedded defaults (SQLite, local CA, demo key on SoftHSM2):
# backend, worker, cron, key helper, and Redis when it is not running. Ctrl-C stops everything.
source "$(dirname "$0")/bootstrap.sh"
ensure_apt softhsm2 redis-server openssl fonts-wqy-microhei  # the application form PDF embeds its CJK font
ensure_venv
ensure_divisions
ensure_swagger_ui
ensure_redis
cd "$ROOT"
mkdir -p var
export FLASK_APP=wxbackend:create_app APP_ENV="${APP_ENV:-development}"
export SOFTHSM2_CONF="${SOFTHSM2_CONF:-$ROOT/var/softhsm/softhsm2.conf}"
PORT="${PORT:-5000}"
HELPER_PORT="${HELPER_PORT:-28730}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
export HELPER_PORT HELPER_ALLOWED_ORIGINS="${HELPER_ALLOWED_ORIGINS:-http://127.0.0.1:$PORT,http://localhost:$PORT}"
FLASK="$VENV/bin/flask"

# The key helper's package for /pc/download, built once per version (about 20 s; offline from the second time).
bash scripts/build_helper.sh --if-missing || log "the key helper's package was not built: /pc/download lists none"
log "database"; "$FLASK" db upgrade >/dev/null
log "local CA"; "$FLASK" ca init
if [ ! -s var/admin-first-sign-in.txt ]; then  # the console's first 管理员, once; its one-time password kept here
  log "console admin"
  "$FLASK" staff create admin --name 管理员 >var/admin-first-sign-in.txt 2>&1 || true
fi
if ! ls "$ROOT"/var/softhsm/tokens/*/token.object >/dev/null 2>&1; then
  log "demo key"
  "$FLASK" demo make-key --org "广州某某科技有限公司" --expires-in-days 30 --email "it@example.cn" \
    --credit-code 91440101MA59TEXK0J \
    --app "广东省政府采购网:$(date -d '+60 days' +%F)" --app "广州公共资源交易中心:$(date -d '+20 days' +%F)"
fi

# WeChat: unless a real official account is configured, a fake WeChat server on 127.0.0.1 plays it (OAuth,
# menus, notices, mini-program login), so the H5 pages open through the same OAuth round trip as in WeChat.
FAKE_WECHAT=""
if [ -z "${WECHAT_APP_ID:-}" ] && ! grep -qs '^WECHAT_APP_ID=.' .env; then
  FAKE_WECHAT_PORT="${FAKE_WECHAT_PORT:-5101}"
  export WECHAT_APP_ID=wxdevofficial0001 WECHAT_APP_SECRET=dev-official-secret WECHAT_TOKEN=devtoken
  export WECHAT_AES_KEY=devdevdevdevdevdevdevdevdevdevdevdevdevdevd
  export WECHAT_MINI_APP_ID=wxdevminiprog0001 WECHAT_MINI_APP_SECRET=dev-mini-secret
  export WECHAT_API_BASE="http://127.0.0.1:$FAKE_WECHAT_PORT/" WECHAT_OAUTH_BASE="http://127.0.0.1:$FAKE_WECHAT_PORT/connect/"
  export WECHAT_NOTICE_TEMPLATES="binding_success=DEV-TPL-1,payment_received=DEV-TPL-2,audit_result=DEV-TPL-3,ready_to_write=DEV-TPL-4,renewal_done=DEV-TPL-5,invoice_issued=DEV-TPL-6,expiry_reminder=DEV-TPL-7"
  FAKE_WECHAT="http://127.0.0.1:$FAKE_WECHAT_PORT/"
fi

# The helper trusts tickets signed by this backend's key only.
export HELPER_TICKET_PUBLIC_KEYS="$("$FLASK" tickets public-key)"

pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup INT TERM EXIT
mkdir -p var/log
if [ -n "$FAKE_WECHAT" ]; then
  "$VENV/bin/python" -m fakes.wechat --port "$FAKE_WECHAT_PORT" --app "$WECHAT_APP_ID:$WECHAT_APP_SECRET" \
    --app "$WECHAT_MINI_APP_ID:$WECHAT_MINI_APP_SECRET" >var/log/fake-wechat.log 2>&1 & pids+=($!)
  for _ in $(seq 100); do curl -fs "${FAKE_WECHAT}_fake/calls" >/dev/null 2>&1 && break; sleep 0.1; done
  "$FLASK" wx menu-sync || true
fi
if [ -z "${WECHAT_PAY_MCH_ID:-}" ] && ! grep -qs '^WECHAT_PAY_MCH_ID=.' .env; then
  # WeChat Pay is played by a fake gateway that signs like the real one; it writes the backend's settings.
  FAKE_WECHATPAY_PORT="${FAKE_WECHATPAY_PORT:-5102}"
  rm -f var/wechatpay/wechatpay.env
  "$VENV/bin/python" -m fakes.wechatpay --port "$FAKE_WECHATPAY_PORT" --keys var/wechatpay \
    >var/log/fake-wechatpay.log 2>&1 & pids+=($!)
  for _ in $(seq 100); do [ -s var/wechatpay/wechatpay.env ] && break; sleep 0.1; done
  set -a; . var/wechatpay/wechatpay.env; set +a
fi
if [ -z "${SMTP_HOST:-}" ] && ! grep -qs '^SMTP_HOST=.' .env; then
  # Mail (invoice links) goes to an SMTP sink on 127.0.0.1:1025 that keeps each message in var/mail/.
  "$VENV/bin/python" -m fakes.smtp --port 1025 >var/log/smtp.log 2>&1 & pids+=($!)
fi
if [ -z "${LIVENESS_PROVIDER:-}" ] && ! grep -qs '^LIVENESS_PROVIDER=.' .env; then
  # 人脸核身: a fake FaceID on 127.0.0.1 plays Tencent Cloud's API and hosted page (通过 / 不通过 buttons), so the
  # liveness step runs through the same `tencent` adapter as in production. Without it, LIVENESS_PROVIDER=local
  # passes every check at once. Bank payouts (the 金融认证 code) and SMS stay `local`: var/log/bank-payouts.log and
  # var/log/sms.log; express tracking stays `local`: a made-up waybill that moves every 10 minutes.
  FAKE_LIVENESS_PORT="${FAKE_LIVENESS_PORT:-5104}"
  export LIVENESS_PROVIDER=tencent LIVENESS_API_BASE="http://127.0.0.1:$FAKE_LIVENESS_PORT/" LIVENESS_RULE_ID=1
  export LIVENESS_SECRET_ID=dev-faceid-id LIVENESS_SECRET_KEY=dev-faceid-key
  "$VENV/bin/python" -m fakes.liveness --port "$FAKE_LIVENESS_PORT" --secret-id "$LIVENESS_SECRET_ID" \
    --secret-key "$LIVENESS_SECRET_KEY" >var/log/fake-liveness.log 2>&1 & pids+=($!)
fi
# Threaded workers (idle connections cannot stall them), access log without query strings: deploy/gunicorn.conf.py.
"$VENV/bin/gunicorn" -c deploy/gunicorn.conf.py -b "127.0.0.1:$PORT" --access-logfile var/log/access.log \
  'wxbackend:create_app()' \
  >var/log/backend.log 2>&1 & pids+=($!)
# the worker runs rq's scheduler too (retries); rq cron runs the outbox sweep every minute (README "Durable work")
"$VENV/bin/python" -m jobs.worker >var/log/worker.log 2>&1 & pids+=($!)
"$VENV/bin/rq" cron jobs/cron.py -u "${REDIS_URL:-redis://127.0.0.1:6379/0}" >var/log/cron.log 2>&1 & pids+=($!)
"$VENV/bin/python" -m ukey_helper >var/log/helper.log 2>&1 & pids+=($!)

for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
cat <<MSG

  数安CA管家 is running (logs in var/log/):
    phone pages (H5):           http://127.0.0.1:$PORT/h5/   (WeChat OAuth through ${FAKE_WECHAT:-WeChat}; the fake
                                asks once which WeChat user this browser is)
    messages WeChat receives:   ${FAKE_WECHAT:-(real WeChat)}_fake/messages
    mail sent (invoice links):  var/mail/*.eml and var/log/smtp.log
    PC binding page (key in):   http://127.0.0.1:$PORT/pc/bind
    PC renewal page (paid):     http://127.0.0.1:$PORT/pc/renew
    key helper download:        http://127.0.0.1:$PORT/pc/download
    staff console:              http://127.0.0.1:$PORT/admin/   (user admin; its one-time password is in
                                var/admin-first-sign-in.txt; enrol TOTP with an authenticator app at first sign-in)
    API document:               http://127.0.0.1:$PORT/api/docs   (openapi.json beside it)
    liveness (人脸核身):        ${LIVENESS_API_BASE:-local: every check passes}
    bank payouts and SMS:       var/log/bank-payouts.log   var/log/sms.log   (codes and PINs sent, development only)
    CA chain and CRL:           http://127.0.0.1:$PORT/ca/chain.pem   http://127.0.0.1:$PORT/ca/crl
    key helper:                 curl -H "Origin: http://127.0.0.1:$PORT" http://127.0.0.1:$HELPER_PORT/v1/token
    demo key PIN:               12345678

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
echo "a process stopped; see var/log/" >&2
