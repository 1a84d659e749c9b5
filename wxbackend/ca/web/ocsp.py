"""The OCSP responder's HTTP side (RFC 6960 appendix A): POST application/ocsp-request, or GET with the request
base64-encoded (and URL-encoded) in the path."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, request

from wxbackend.ca.ocsp import MAX_REQUEST_BYTES, OcspAnswer, answer

bp = Blueprint("ca_ocsp", __name__, url_prefix="/ca/ocsp")


def _respond(result: OcspAnswer) -> Response:
    headers = {"Cache-Control": f"max-age={result.cacheable_seconds}, public, no-transform, must-revalidate"
               if result.cacheable_seconds else "no-cache"}
    return Response(result.der, mimetype="application/ocsp-response", headers=headers)


@bp.post("", strict_slashes=False)
def post():
    return _respond(answer(request.stream.read(MAX_REQUEST_BYTES + 1)))


@bp.get("/<path:encoded>", merge_slashes=False)
def get(encoded: str):
    # the path arrives percent-decoded; base64 may hold "/" (hence no slash merging) and "+"
    try:
        der = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        der = b""
    return _respond(answer(der))
