"""Where the issuing CA's private key lives. Both signers sign raw to-be-signed bytes with SHA256withRSA.

* `FileSigner` — an encrypted PKCS#8 key file (embedded default).
* `Pkcs11Signer` — a non-extractable key in a PKCS#11 HSM (SoftHSM2 in tests), via python-pkcs11.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import pkcs11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass


class Signer(Protocol):
    def public_key(self) -> rsa.RSAPublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


class FileSigner:
    """RSA key from a PEM file encrypted with a passphrase."""

    def __init__(self, key: rsa.RSAPrivateKey):
        self._key = key

    @classmethod
    def load(cls, path: Path, passphrase: str) -> FileSigner:
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase.encode())
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA key")
        return cls(key)

    @staticmethod
    def create(path: Path, passphrase: str, bits: int = 3072) -> FileSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(passphrase.encode())))
        path.chmod(0o600)
        return FileSigner(key)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


class Pkcs11Signer:
    """RSA key on a PKCS#11 token found by token label and key label. One session per signer, used under a lock."""

    def __init__(self, module: str, token_label: str, pin: str, key_label: str):
        self._pkcs11 = pkcs11
        self._lib = pkcs11.lib(module)
        self._token_label = token_label
        self._pin = pin
        self._key_label = key_label
        self._lock = threading.Lock()
        self._session = None

    def _open(self):
        if self._session is None:
            token = self._lib.get_token(token_label=self._token_label)
            try:
                self._session = token.open(user_pin=self._pin)
            except self._pkcs11.exceptions.UserAlreadyLoggedIn:
                # PKCS#11 login is per application: another session of this process already logged in.
                self._session = token.open()
        return self._session

    def _private_key(self):
        return self._open().get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label=self._key_label)

    def public_key(self) -> rsa.RSAPublicKey:
        with self._lock:
            pub = self._open().get_key(object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.RSA,
                                       label=self._key_label)
            return rsa.RSAPublicNumbers(int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big"),
                                        int.from_bytes(pub[Attribute.MODULUS], "big")).public_key()

    def sign(self, data: bytes) -> bytes:
        with self._lock:
            return self._private_key().sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)

    @staticmethod
    def generate(module: str, token_label: str, pin: str, key_label: str, bits: int = 3072) -> Pkcs11Signer:
        """Make the issuing key pair inside the HSM (sensitive, never extractable)."""

        token = pkcs11.lib(module).get_token(token_label=token_label)
        with token.open(rw=True, user_pin=pin) as session:
            session.generate_keypair(KeyType.RSA, bits, store=True, label=key_label,
                                     private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
        return Pkcs11Signer(module, token_label, pin, key_label)
