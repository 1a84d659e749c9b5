"""Public CA endpoints at stable http URLs: the issuing CA's CRL, the root's CRL, the issuing CA certificate
(caIssuers, DER) and the CA chain."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response

from wxbackend.ca.service import build_crl, current_root_crl, get_authority

bp = Blueprint("ca", __name__, url_prefix="/ca")


@bp.get("/crl")
def crl():
    return Response(build_crl(), mimetype="application/pkix-crl",
                    headers={"Content-Disposition": "inline; filename=issuing.crl", "Cache-Control": "max-age=300"})


@bp.get("/root.crl")
def root_crl():
    return Response(current_root_crl().der, mimetype="application/pkix-crl",
                    headers={"Content-Disposition": "inline; filename=root.crl", "Cache-Control": "max-age=3600"})


@bp.get("/issuing.cer")
def issuing_certificate():
    return Response(get_authority().issuing.public_bytes(serialization.Encoding.DER), mimetype="application/pkix-cert",
                    headers={"Content-Disposition": "inline; filename=issuing.cer", "Cache-Control": "max-age=3600"})


@bp.get("/chain.pem")
def chain():
    return Response(get_authority().chain_pem(), mimetype="application/x-pem-file")
