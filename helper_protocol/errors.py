"""The key helper's stable error codes (DESIGN §7): the `code` of every error answer `{"code", "message", ...}`.

The backend and the PC pages may branch on these names; the Chinese message shown to the customer and the HTTP
status belong to the helper (`ukey_helper.errors`).
"""

TOKEN_ABSENT = "token_absent"  # no key plugged in (or not the one the ticket names)
MULTIPLE_TOKENS = "multiple_tokens"  # more than one key plugged in
PIN_INCORRECT = "pin_incorrect"  # wrong PIN; `tries_left` says how many the helper still allows
PIN_LOCKED = "pin_locked"  # the token's PIN is locked
PIN_FINAL_TRY = "pin_final_try"  # one try left on the token: repeat with confirm_final_try
PIN_ATTEMPTS_EXCEEDED = "pin_attempts_exceeded"  # 3 wrong PINs in 15 minutes on the helper's side
PIN_REQUIRED = "pin_required"  # no held renewal session: the request must carry the PIN
TICKET_INVALID = "ticket_invalid"  # not signed by a configured key, for another operation, or used before
TICKET_EXPIRED = "ticket_expired"
KEY_MISMATCH = "key_mismatch"  # the certificate or its key is not on the token
WRITE_FAILED = "write_failed"  # writing to the token failed
CHAIN_INVALID = "chain_invalid"  # the certificate to install does not chain to the CA
NEW_CERTIFICATE_MISSING = "new_certificate_missing"  # cleanup refused: the new certificate or its key is not there
BUSY = "busy"  # another token operation is running
FORBIDDEN_HOST = "forbidden_host"  # unexpected Host header (DNS rebinding)
FORBIDDEN_ORIGIN = "forbidden_origin"  # Origin not one of the configured binding-site origins
BAD_REQUEST = "bad_request"  # a field of the request is not acceptable (a PIN's format, a certificate's)
INVALID_REQUEST = "invalid_request"  # the body is not a JSON object (malformed, nested too deep, another type)
NOT_FOUND = "not_found"
TOKEN_ERROR = "token_error"  # the PKCS#11 module failed otherwise
TOKEN_NOT_BLANK = "token_not_blank"  # counter: the key already holds certificates or keys

ERROR_CODES = frozenset({
    TOKEN_ABSENT, MULTIPLE_TOKENS, PIN_INCORRECT, PIN_LOCKED, PIN_FINAL_TRY, PIN_ATTEMPTS_EXCEEDED, PIN_REQUIRED,
    TICKET_INVALID, TICKET_EXPIRED, KEY_MISMATCH, WRITE_FAILED, CHAIN_INVALID, NEW_CERTIFICATE_MISSING, BUSY,
    FORBIDDEN_HOST, FORBIDDEN_ORIGIN, BAD_REQUEST, INVALID_REQUEST, NOT_FOUND, TOKEN_ERROR, TOKEN_NOT_BLANK,
})
