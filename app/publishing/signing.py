"""Enveloped XML signatures over SMP documents, at write time.

``URI=""``, exactly one transform (enveloped-signature), SHA-256 digest, RSA-SHA256 (ECDSA-SHA256/384 for
EC keys), ``KeyInfo/X509Data`` with subject name and certificate, the ``ds:Signature`` the last child of
the document element. The signature uses the ``ds:`` prefix, which every verifier canonicalises alike.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from app.publishing.keys import SigningCredentials
from app.trust import xmldsig

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _ds(parent: etree._Element, name: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{xmldsig.DS}}}{name}", attributes)


class Signer:
    def __init__(self, credentials: SigningCredentials) -> None:
        self.credentials = credentials
        key = credentials.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self._hash = hashes.SHA384() if key.curve.key_size > 256 else hashes.SHA256()
            self.signature_method = xmldsig.ECDSA_SHA384 if key.curve.key_size > 256 else xmldsig.ECDSA_SHA256
        else:
            self._hash = hashes.SHA256()
            self.signature_method = xmldsig.RSA_SHA256
        certificate = credentials.certificate
        self._certificate_b64 = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
        self._subject = certificate.subject.rfc4514_string()

    def _sign_bytes(self, data: bytes) -> bytes:
        key = self.credentials.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(self._hash)))
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")  # XMLDSig wants r || s, not DER
        return key.sign(data, padding.PKCS1v15(), self._hash)

    def sign(self, root: etree._Element, canonicalization: str) -> bytes:
        """Append the signature to ``root`` and return the whole document as UTF-8 bytes."""
        digest = hashlib.sha256(xmldsig.canonicalize(root.getroottree(), canonicalization)).digest()
        signature = etree.SubElement(root, f"{{{xmldsig.DS}}}Signature", nsmap={"ds": xmldsig.DS})
        signed_info = _ds(signature, "SignedInfo")
        _ds(signed_info, "CanonicalizationMethod", Algorithm=canonicalization)
        _ds(signed_info, "SignatureMethod", Algorithm=self.signature_method)
        reference = _ds(signed_info, "Reference", URI="")
        _ds(_ds(reference, "Transforms"), "Transform", Algorithm=xmldsig.ENVELOPED)
        _ds(reference, "DigestMethod", Algorithm=xmldsig.SHA256)
        _ds(reference, "DigestValue").text = base64.b64encode(digest).decode()
        value = self._sign_bytes(xmldsig.canonicalize(signed_info, canonicalization))
        _ds(signature, "SignatureValue").text = base64.b64encode(value).decode()
        x509_data = _ds(_ds(signature, "KeyInfo"), "X509Data")
        _ds(x509_data, "X509SubjectName").text = self._subject
        _ds(x509_data, "X509Certificate").text = self._certificate_b64
        return serialize(root)


def serialize(root: etree._Element) -> bytes:
    """UTF-8 with the XML declaration SMP 1.0 §3.3 asks for (double quotes, as the spec writes it)."""
    return XML_DECLARATION + bytes(etree.tostring(root, encoding="UTF-8"))
