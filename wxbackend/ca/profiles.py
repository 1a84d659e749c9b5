"""Certificate profiles of the CA hierarchy, in one place (DESIGN §6, §17; RFC 5280).

Each profile is a function returning the extensions of one kind of certificate as `(value, critical)` pairs;
`with_extensions` adds them to a builder. The kinds:

* root CA — keyCertSign + cRLSign, no CRL distribution point (a trust anchor is not revoked by a CRL);
* issuing CA — pathLen 0, its CRL distribution point is the root's CRL (`CA_ROOT_CRL_URL`), the CA's policy;
* OCSP signer — a delegated responder certificate of the issuing CA: digitalSignature, id-kp-OCSPSigning and
  id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), no revocation pointers;
* end-entity signing — digitalSignature + nonRepudiation only (signing keys never encrypt), the email in
  subjectAltName, the issuing CA's CRL, AIA (caIssuers + OCSP) and the certificate policy with its CPS URL;
* end-entity encryption — keyEncipherment + dataEncipherment, for the encryption half of a dual-certificate
  pair (SM2/SM3 dual certificates are the next step; nothing issues it yet).

The URLs come from configuration (`CA_CRL_URL`, `CA_ROOT_CRL_URL`, `CA_ISSUER_URL`, `CA_OCSP_URL`): stable http
addresses, never derived from the customer-facing https site.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

Extensions = list[tuple[x509.ExtensionType, bool]]


@dataclass(frozen=True)
class PkiUrls:
    """Where relying parties fetch revocation data and the issuer, and the policy the CA works under."""

    crl: str
    root_crl: str
    issuer: str
    ocsp: str
    policy_oid: str
    cps_url: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PkiUrls:
        return cls(crl=config["CA_CRL_URL"], root_crl=config["CA_ROOT_CRL_URL"], issuer=config["CA_ISSUER_URL"],
                   ocsp=config["CA_OCSP_URL"], policy_oid=config["CA_POLICY_OID"], cps_url=config["CA_CPS_URL"])


def _key_usage(*, digital_signature: bool = False, non_repudiation: bool = False, key_encipherment: bool = False,
               data_encipherment: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=non_repudiation,
                         key_encipherment=key_encipherment, data_encipherment=data_encipherment,
                         key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)


def _key_ids(public_key: rsa.RSAPublicKey, issuer_public_key: rsa.RSAPublicKey) -> Extensions:
    return [
        (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), False),
    ]


def _crl_distribution_point(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None, crl_issuer=None)])


def _policies(urls: PkiUrls, with_cps: bool) -> x509.CertificatePolicies:
    qualifiers = [urls.cps_url] if with_cps and urls.cps_url else None
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(urls.policy_oid), qualifiers)])


def root_ca_extensions(public_key: rsa.RSAPublicKey) -> Extensions:
    """The self-signed root: CA with one CA below it, keyCertSign + cRLSign."""
    return [
        (x509.BasicConstraints(ca=True, path_length=1), True),
        (_key_usage(cert_sign=True), True),
        *_key_ids(public_key, public_key),
    ]


def issuing_ca_extensions(public_key: rsa.RSAPublicKey, root_public_key: rsa.RSAPublicKey,
                          urls: PkiUrls) -> Extensions:
    """The issuing CA under the root: revocable through the root's CRL, working under the CA's policy."""
    return [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (_key_usage(cert_sign=True), True),
        *_key_ids(public_key, root_public_key),
        (_crl_distribution_point(urls.root_crl), False),
        (_policies(urls, with_cps=False), False),
    ]


def ocsp_signer_extensions(public_key: rsa.RSAPublicKey, issuer_public_key: rsa.RSAPublicKey) -> Extensions:
    """A delegated OCSP responder certificate issued by the issuing CA (RFC 6960 §4.2.2.2): digitalSignature,
    id-kp-OCSPSigning, and id-pkix-ocsp-nocheck so that clients do not ask about the responder itself (keep its
    validity short instead)."""
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(digital_signature=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
        (x509.OCSPNoCheck(), False),
        *_key_ids(public_key, issuer_public_key),
    ]


def _end_entity_common(public_key: rsa.RSAPublicKey, issuer_public_key: rsa.RSAPublicKey, urls: PkiUrls,
                       email: str) -> Extensions:
    extensions: Extensions = [(x509.BasicConstraints(ca=False, path_length=None), True)]
    if email:  # RFC 5280 §4.1.2.6: an email address in the subject is in subjectAltName too
        extensions.append((x509.SubjectAlternativeName([x509.RFC822Name(email)]), False))
    extensions += [
        *_key_ids(public_key, issuer_public_key),
        (_crl_distribution_point(urls.crl), False),
        (x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                   x509.UniformResourceIdentifier(urls.issuer)),
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)),
        ]), False),
        (_policies(urls, with_cps=True), False),
    ]
    return extensions


def signing_extensions(public_key: rsa.RSAPublicKey, issuer_public_key: rsa.RSAPublicKey, urls: PkiUrls,
                       email: str = "") -> Extensions:
    """A customer's signing certificate (the U-KEY's signing key): digitalSignature + nonRepudiation only."""
    return [
        *_end_entity_common(public_key, issuer_public_key, urls, email),
        (_key_usage(digital_signature=True, non_repudiation=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
    ]


def encryption_extensions(public_key: rsa.RSAPublicKey, issuer_public_key: rsa.RSAPublicKey, urls: PkiUrls,
                          email: str = "") -> Extensions:
    """The encryption certificate of a dual-certificate pair (its key made and escrowed by a key management
    centre): keyEncipherment + dataEncipherment, never a signature. Not issued yet."""
    return [
        *_end_entity_common(public_key, issuer_public_key, urls, email),
        (_key_usage(key_encipherment=True, data_encipherment=True), True),
    ]


def with_extensions(builder: x509.CertificateBuilder, extensions: Iterable[tuple[x509.ExtensionType, bool]]
                    ) -> x509.CertificateBuilder:
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    return builder
