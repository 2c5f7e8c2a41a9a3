"""Enveloped XML signatures as SMP uses them: canonicalisation, algorithm tables and a strict verifier.

Only the shape SMP documents have is accepted: one ``ds:Signature`` child of the document element with
one ``Reference URI=""`` whose transforms are the enveloped-signature transform (optionally followed by
a canonicalisation). Anything else (XPath or XSLT transforms, external references, DTDs) is refused.

Canonicalisation notes:

* C14N 1.1 (SMP 2.0) differs from C14N 1.0 only in how ``xml:id``/``xml:base``/``xml:lang``/``xml:space``
  attributes of omitted ancestors are inherited. lxml offers C14N 1.0 only, so documents whose ancestors
  of the canonicalised subtree carry ``xml:*`` attributes are refused under C14N 1.1 instead of being
  canonicalised wrongly; for everything else the two outputs are identical.
* lxml canonicalises a subtree whose default namespace overrides its ancestor's with a spurious
  ``xmlns=""`` on descendants (see reference/tooling.md §2.4). Inside ``SignedInfo`` every element is in
  the XMLDSig namespace, so such a declaration can only be that artefact and is removed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_10_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N_11_COMMENTS = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"

RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ECDSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

# (exclusive, with comments, c14n 1.1)
_C14N = {
    C14N_10: (False, False, False),
    C14N_10_COMMENTS: (False, True, False),
    C14N_11: (False, False, True),
    C14N_11_COMMENTS: (False, True, True),
    EXC_C14N: (True, False, False),
    EXC_C14N_COMMENTS: (True, True, False),
}
_DIGESTS = {SHA1: "sha1", SHA256: "sha256", SHA384: "sha384", SHA512: "sha512"}
_SIGNATURES: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    RSA_SHA1: ("rsa", hashes.SHA1()),  # noqa: S303  (only to read pre-2022 Peppol documents; never used to sign)
    RSA_SHA256: ("rsa", hashes.SHA256()),
    RSA_SHA384: ("rsa", hashes.SHA384()),
    RSA_SHA512: ("rsa", hashes.SHA512()),
    ECDSA_SHA256: ("ec", hashes.SHA256()),
    ECDSA_SHA384: ("ec", hashes.SHA384()),
}
#: What a strict SMP client accepts by default; SHA-1 only when asked for (old Peppol test vectors).
MODERN_SIGNATURE_METHODS = frozenset({RSA_SHA256, RSA_SHA384, RSA_SHA512, ECDSA_SHA256, ECDSA_SHA384})
MODERN_DIGEST_METHODS = frozenset({SHA256, SHA384, SHA512})
XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"


class SignatureError(Exception):
    """The document's signature is missing, malformed, unsupported, wrong or untrusted."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        #: ``malformed``, ``unsupported``, ``digest``, ``signature``, ``untrusted``
        self.kind = kind


def safe_parser() -> etree.XMLParser:
    """A parser that fetches nothing, expands no entities and keeps every byte of text."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


def parse_document(data: bytes) -> etree._Element:
    try:
        tree = etree.fromstring(data, safe_parser()).getroottree()
    except etree.XMLSyntaxError as error:
        raise SignatureError("malformed", f"not well-formed XML: {error}") from None
    if tree.docinfo.doctype:
        raise SignatureError("malformed", "a DOCTYPE is not allowed in SMP documents")
    return tree.getroot()


def canonicalize(node: etree._Element | etree._ElementTree, algorithm: str, prefixes: Sequence[str] = ()) -> bytes:
    """The canonical form of a whole document (tree) or a subtree (element) under ``algorithm``."""
    try:
        exclusive, comments, version_11 = _C14N[algorithm]
    except KeyError:
        raise SignatureError("unsupported", f"canonicalisation {algorithm} is not supported") from None
    element = node.getroot() if isinstance(node, etree._ElementTree) else node
    if version_11 and isinstance(node, etree._Element):
        for ancestor in element.iterancestors():
            if any(name.startswith(f"{{{XML_NAMESPACE}}}") for name in ancestor.attrib):
                raise SignatureError("unsupported", "C14N 1.1 of a subtree under xml:* attributes is not supported")
    output: bytes = etree.tostring(
        node, method="c14n", exclusive=exclusive, with_comments=comments, inclusive_ns_prefixes=list(prefixes) or None
    )
    if isinstance(node, etree._Element) and node.getparent() is not None and _unprefixed_apex(output):
        output = output.replace(b' xmlns=""', b"")
    return output


def _unprefixed_apex(canonical: bytes) -> bool:
    """Whether the subtree's own start tag has no prefix (lxml's ``.prefix`` may name another binding)."""
    tag = canonical[1:].split(b" ", 1)[0].split(b">", 1)[0]
    return b":" not in tag


def _one(parent: etree._Element, name: str, what: str) -> etree._Element:
    found = parent.findall(f"{{{DS}}}{name}")
    if len(found) != 1:
        raise SignatureError("malformed", f"{what} must have exactly one ds:{name}, found {len(found)}")
    return found[0]


def _base64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed", f"{what} is not base64") from None


def _prefixes(method_element: etree._Element) -> list[str]:
    inclusive = method_element.find("{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces")
    if inclusive is None:
        return []
    return [p if p != "#default" else "" for p in (inclusive.get("PrefixList") or "").split()]


@dataclass(frozen=True)
class VerifiedSignature:
    root: etree._Element
    certificate: x509.Certificate
    signature_method: str
    digest_method: str
    canonicalization_method: str


def verify_enveloped(
    data: bytes,
    *,
    trusted: Sequence[x509.Certificate] | None = None,
    pinned: x509.Certificate | None = None,
    at_time: datetime | None = None,
    check_time: bool = True,
    signature_methods: frozenset[str] = MODERN_SIGNATURE_METHODS,
    digest_methods: frozenset[str] = MODERN_DIGEST_METHODS,
) -> VerifiedSignature:
    """Verify the enveloped signature of an SMP document.

    ``pinned``: the signer must be exactly this certificate. ``trusted``: the embedded certificate must
    chain to one of these anchors (intermediates may travel in ``X509Data``). With neither, only the
    cryptography is checked (like ``xmlsec1 --insecure``). ``check_time=False`` skips validity dates
    (for the expired certificates of published test vectors).
    """
    root = parse_document(data)
    signatures = root.findall(f"{{{DS}}}Signature")
    if not signatures:
        raise SignatureError("malformed", "the document element has no ds:Signature child")
    signature = signatures[-1]
    signed_info = _one(signature, "SignedInfo", "ds:Signature")
    c14n_element = _one(signed_info, "CanonicalizationMethod", "ds:SignedInfo")
    c14n_method = c14n_element.get("Algorithm", "")
    signature_method = _one(signed_info, "SignatureMethod", "ds:SignedInfo").get("Algorithm", "")
    reference = _one(signed_info, "Reference", "ds:SignedInfo")
    if reference.get("URI") != "":
        raise SignatureError("unsupported", f'only Reference URI="" is accepted, got {reference.get("URI")!r}')
    digest_method = _one(reference, "DigestMethod", "ds:Reference").get("Algorithm", "")
    if signature_method not in signature_methods or signature_method not in _SIGNATURES:
        raise SignatureError("unsupported", f"signature method {signature_method} is not accepted")
    if digest_method not in digest_methods or digest_method not in _DIGESTS:
        raise SignatureError("unsupported", f"digest method {digest_method} is not accepted")

    # SignedInfo is canonicalised before the tree is touched: detaching the Signature for the enveloped
    # transform makes lxml copy namespace declarations onto it, which would change this output.
    signed_bytes = canonicalize(signed_info, c14n_method, _prefixes(c14n_element))
    reference_c14n, reference_prefixes = _reference_transforms(reference)
    expected_digest = _base64(_one(reference, "DigestValue", "ds:Reference").text, "DigestValue")
    parent = signature.getparent()
    position = parent.index(signature)
    tail = signature.tail
    parent.remove(signature)  # the enveloped-signature transform
    try:
        digested = canonicalize(root.getroottree(), reference_c14n, reference_prefixes)
    finally:
        signature.tail = tail
        parent.insert(position, signature)
    if hashlib.new(_DIGESTS[digest_method], digested).digest() != expected_digest:
        raise SignatureError("digest", "the signed content was changed: reference digest does not match")

    certificates = _embedded_certificates(signature)
    signer = pinned or (certificates[0] if certificates else None)
    if signer is None:
        raise SignatureError("untrusted", "no X509Certificate in KeyInfo and no pinned certificate")
    value = _base64(_one(signature, "SignatureValue", "ds:Signature").text, "SignatureValue")
    _check_signature(signer, signature_method, value, signed_bytes)
    if pinned is None and trusted is not None:
        _check_chain(signer, certificates[1:], trusted, at_time, check_time)
    elif check_time:
        moment = at_time or datetime.now(UTC)
        if not signer.not_valid_before_utc <= moment <= signer.not_valid_after_utc:
            raise SignatureError("untrusted", f"the signing certificate is not valid at {moment.isoformat()}")
    return VerifiedSignature(root, signer, signature_method, digest_method, c14n_method)


def _reference_transforms(reference: etree._Element) -> tuple[str, list[str]]:
    transforms = reference.find(f"{{{DS}}}Transforms")
    algorithms = [] if transforms is None else list(transforms.findall(f"{{{DS}}}Transform"))
    if not algorithms or algorithms[0].get("Algorithm") != ENVELOPED:
        raise SignatureError("unsupported", "the reference must start with the enveloped-signature transform")
    if len(algorithms) > 2:
        raise SignatureError("unsupported", "at most an enveloped-signature and a canonicalisation transform")
    if len(algorithms) == 1:
        return C14N_10, []  # a node-set becomes octets by inclusive C14N 1.0 (XMLDSig §4.3.3.2)
    algorithm = algorithms[1].get("Algorithm", "")
    if algorithm not in _C14N:
        raise SignatureError("unsupported", f"transform {algorithm} is not accepted")
    # A same-document reference (URI="") excludes comments whatever the transform says (XMLDSig §4.3.3.3).
    exclusive = _C14N[algorithm][0]
    return (EXC_C14N if exclusive else C14N_10), _prefixes(algorithms[1])


def _embedded_certificates(signature: etree._Element) -> list[x509.Certificate]:
    certificates = []
    for element in signature.iterfind(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"):
        try:
            certificates.append(x509.load_der_x509_certificate(_base64(element.text, "X509Certificate")))
        except ValueError:
            raise SignatureError("malformed", "X509Certificate is not a DER certificate") from None
    return certificates


def _check_signature(certificate: x509.Certificate, method: str, value: bytes, signed: bytes) -> None:
    family, digest = _SIGNATURES[method]
    key = certificate.public_key()
    try:
        if family == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, signed, padding.PKCS1v15(), digest)
        elif family == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise SignatureError("signature", "ECDSA SignatureValue has the wrong length")
            der = encode_dss_signature(int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big"))
            key.verify(der, signed, ec.ECDSA(digest))
        else:
            raise SignatureError("signature", f"the signer's key does not fit signature method {method}")
    except InvalidSignature:
        raise SignatureError(
            "signature", "the signature value does not match (wrong key or changed SignedInfo)"
        ) from None


def _check_chain(
    signer: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    at_time: datetime | None,
    check_time: bool,
) -> None:
    if not trusted:
        raise SignatureError("untrusted", "no trusted SMP certificate authority is configured")
    moment = at_time or datetime.now(UTC)
    if not check_time:
        moment = signer.not_valid_before_utc
    builder = (
        PolicyBuilder()
        .store(Store(list(trusted)))
        .time(moment)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
    )
    try:
        builder.build_client_verifier().verify(signer, list(intermediates))
    except VerificationError as error:
        raise SignatureError(
            "untrusted", f"the signing certificate does not chain to a trusted SMP CA: {error}"
        ) from None
