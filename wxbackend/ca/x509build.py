"""Signing X.509 structures with any `Signer`.

`cryptography` builders only sign with in-process keys. We build with a placeholder RSA key (same algorithm
identifier, sha256WithRSAEncryption), take the to-be-signed bytes, sign them with the real signer and put the
real signature in place. The placeholder never signs anything that leaves this module.
"""

from __future__ import annotations

import functools

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wxbackend.ca.signers import Signer


@functools.cache
def _placeholder_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign_certificate(builder: x509.CertificateBuilder, signer: Signer) -> x509.Certificate:
    draft = builder.sign(_placeholder_key(), hashes.SHA256())
    signature = signer.sign(draft.tbs_certificate_bytes)
    structure = asn1_x509.Certificate.load(draft.public_bytes(serialization.Encoding.DER))
    structure["signature_value"] = signature
    cert = x509.load_der_x509_certificate(structure.dump())
    signer.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    return cert


def sign_crl(builder: x509.CertificateRevocationListBuilder, signer: Signer) -> x509.CertificateRevocationList:
    draft = builder.sign(_placeholder_key(), hashes.SHA256())
    signature = signer.sign(draft.tbs_certlist_bytes)
    structure = asn1_crl.CertificateList.load(draft.public_bytes(serialization.Encoding.DER))
    structure["signature"] = signature
    return x509.load_der_x509_crl(structure.dump())
