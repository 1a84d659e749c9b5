"""Public CA endpoints: the CRL at a stable URL and the CA chain."""

from __future__ import annotations

from flask import Blueprint, Response

from wxbackend.ca.service import build_crl, get_authority

bp = Blueprint("ca", __name__, url_prefix="/ca")


@bp.get("/crl")
def crl():
    return Response(build_crl(), mimetype="application/pkix-crl",
                    headers={"Content-Disposition": "inline; filename=issuing.crl", "Cache-Control": "max-age=300"})


@bp.get("/chain.pem")
def chain():
    return Response(get_authority().chain_pem(), mimetype="application/x-pem-file")
