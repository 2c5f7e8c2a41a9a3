"""Identifier rules against the worked examples of reference/protocols.md §1.3, §2.2 and properties."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from app.identifiers import (
    LENIENT_POLICY,
    DocumentTypeId,
    IdentifierError,
    IdentifierPolicy,
    ParticipantId,
    ProcessId,
    decode_url_segment,
    gln_check_digit,
    normalise_organisation_number,
    url_segment,
    validate_domain_name,
    validate_function_address_identifier,
    validate_gln,
)
from app.settings import SDK_MESSAGE_DOCUMENT_TYPE, SDK_RECEIPT_DOCUMENT_TYPE

ALL_ICDS = IdentifierPolicy(participant_icds=frozenset({"0203", "0007", "0088", "0010", "9908", "0192"}))

# reference/protocols.md §1.3 (SMP 1.0 §2.4) and §2.2 (SMP 2.0 §3): quote(s, safe='') reproduces the spec.
ENCODING_VECTORS = [
    ("iso6523-actorid-upis::0010:5798000000001", "iso6523-actorid-upis%3A%3A0010%3A5798000000001"),
    (
        "urn:oasis:names:tc:ebcore:partyid-type:iso6523:0010::5798000000001",
        "urn%3Aoasis%3Anames%3Atc%3Aebcore%3Apartyid-type%3Aiso6523%3A0010%3A%3A5798000000001",
    ),
    (
        "bdx-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Order-2::Order##UBL-2.0",
        "bdx-docid-qns%3A%3Aurn%3Aoasis%3Anames%3Aspecification%3Aubl%3Aschema%3Axsd%3AOrder-2%3A%3AOrder%23%23UBL-2.0",
    ),
    ("iso6523-actorid-upis::9908:810418052", "iso6523-actorid-upis%3A%3A9908%3A810418052"),
    (
        "bdx-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##UBL-2.1",
        "bdx-docid-qns%3A%3Aurn%3Aoasis%3Anames%3Aspecification%3Aubl%3Aschema%3Axsd%3AInvoice-2%3A%3AInvoice%23%23UBL-2.1",
    ),
    # reference/anchors.md §5.4
    ("iso6523-actorid-upis::0007:5592672736", "iso6523-actorid-upis%3A%3A0007%3A5592672736"),
    ("scheme-actorid-test::value1", "scheme-actorid-test%3A%3Avalue1"),
    (
        "scheme1::urn:rootnamespace::localelement##customizationid::version",
        "scheme1%3A%3Aurn%3Arootnamespace%3A%3Alocalelement%23%23customizationid%3A%3Aversion",
    ),
]


@pytest.mark.parametrize(("identifier", "encoded"), ENCODING_VECTORS)
def test_url_segment_matches_the_specification(identifier, encoded):
    assert url_segment(identifier) == encoded
    assert decode_url_segment(encoded) == identifier


def test_decoding_accepts_lower_case_hex_raw_colons_and_half_encoded_segments():
    # Peppol SMP 1.2.0 §5.3.3 writes %3a; SMP 1.0 Appendix C.1 has a half-encoded href.
    assert decode_url_segment("iso6523-actorid-upis%3a%3a0203%3adigg.se") == "iso6523-actorid-upis::0203:digg.se"
    assert decode_url_segment("iso6523-actorid-upis::0203:digg.se") == "iso6523-actorid-upis::0203:digg.se"
    assert decode_url_segment("urn%3Aoasis%3Anames%3Atc:ebcore") == "urn:oasis:names:tc:ebcore"


def test_encoded_slash_stays_inside_the_identifier():
    assert decode_url_segment("busdox-docid-qns%3A%3Aa%2Fb") == "busdox-docid-qns::a/b"
    assert url_segment("busdox-docid-qns::a/b") == "busdox-docid-qns%3A%3Aa%2Fb"


def test_invalid_utf8_in_a_segment_is_an_identifier_error():
    with pytest.raises(IdentifierError, match="UTF-8"):
        decode_url_segment("abc%FF%FE")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("iso6523-actorid-upis::0203:digg.se", "iso6523-actorid-upis::0203:digg.se"),
        ("ISO6523-ACTORID-UPIS::0203:DIGG.SE", "iso6523-actorid-upis::0203:digg.se"),
        ("  iso6523-actorid-upis::0203:Exempel.SE  ", "iso6523-actorid-upis::0203:exempel.se"),
        ("0203:digg.se", "iso6523-actorid-upis::0203:digg.se"),
        ("iso6523-actorid-upis::0203:testa.testbed.inera.se", "iso6523-actorid-upis::0203:testa.testbed.inera.se"),
        ("iso6523-actorid-upis::0203:höganäs.se", "iso6523-actorid-upis::0203:xn--hgans-jra6j.se"),
        ("iso6523-actorid-upis::0203:HÖGANÄS.se", "iso6523-actorid-upis::0203:xn--hgans-jra6j.se"),
    ],
)
def test_participant_identifiers_are_case_folded_to_the_canonical_form(text, canonical):
    participant = ParticipantId.parse(text)
    assert str(participant) == canonical
    assert ParticipantId.parse(canonical) == participant


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("iso6523-actorid-upis::", "empty"),
        ("iso6523-actorid-upis::0203", "ICD:ID"),
        ("iso6523-actorid-upis::203:digg.se", "four-digit ICD"),
        ("busdox-actorid-upis::0203:digg.se", "scheme must be"),
        ("iso6523-actorid-upis::9999:digg.se", "not allowed"),
        ("iso6523-actorid-upis::0203:digg", "top domain"),
        ("iso6523-actorid-upis::0203:-digg.se", "letters, digits"),
        ("iso6523-actorid-upis::0203:digg-.se", "letters, digits"),
        ("iso6523-actorid-upis::0203:di_gg.se", "letters, digits"),
        ("iso6523-actorid-upis::0203:digg.se.", "empty label"),
        ("iso6523-actorid-upis::0203:digg..se", "empty label"),
        ("iso6523-actorid-upis::0203:http://inera.se", "letters, digits"),
        ("iso6523-actorid-upis::0203:digg.123", "all digits"),
        ("iso6523-actorid-upis::0203:ab--cd.se", "reserved"),
        ("iso6523-actorid-upis::0203:xn--zz.se", "A-label"),
        ("iso6523-actorid-upis::0203:" + "a" * 64 + ".se", "63"),
        ("iso6523-actorid-upis::0203:digg.se\n", None),
        ("iso6523-actorid-upis::0203:dig\x00g.se", "control"),
        ("no separator at all", "ICD:ID"),
    ],
)
def test_malformed_participant_identifiers_are_rejected_with_the_rule(text, reason):
    if reason is None:  # surrounding white space is trimmed: that one is valid
        assert ParticipantId.parse(text).value == "0203:digg.se"
        return
    with pytest.raises(IdentifierError, match=reason):
        ParticipantId.parse(text)


def test_domain_name_length_limit():
    name = ".".join(["a" * 63] * 3) + "." + "b" * 61 + ".se"
    assert len(name) > 253
    with pytest.raises(IdentifierError, match="253"):
        validate_domain_name(name)


@pytest.mark.parametrize("number", ["2021006883", "202100-6883", "2120000142", "2321000016", "5560009994"])
def test_swedish_organisation_numbers_with_valid_check_digit(number):
    assert normalise_organisation_number(number) == number.replace("-", "")


@pytest.mark.parametrize(
    "number", ["2021006884", "202100-6882", "20210068", "20210068830", "abcdefghij", "2021-006883"]
)
def test_swedish_organisation_numbers_invalid(number):
    with pytest.raises(IdentifierError):
        normalise_organisation_number(number)


def test_icd_0007_participants_use_the_organisation_number_rule():
    policy = IdentifierPolicy(participant_icds=frozenset({"0007"}))
    assert ParticipantId.parse("iso6523-actorid-upis::0007:202100-6883", policy).value == "0007:2021006883"
    with pytest.raises(IdentifierError, match="check digit"):
        ParticipantId.parse("iso6523-actorid-upis::0007:2021006884", policy)


@pytest.mark.parametrize("gln", ["5798000000001", "4035811991021", "1234567890128"])
def test_gln_check_digit(gln):
    assert gln_check_digit(gln[:12]) == int(gln[12]) or pytest.fail(f"{gln} should be a valid GLN")
    assert validate_gln(gln) == gln


def test_gln_invalid():
    with pytest.raises(IdentifierError, match="check digit"):
        validate_gln("5798000000002")
    with pytest.raises(IdentifierError, match="13 digits"):
        validate_gln("579800000000")
    policy = IdentifierPolicy(participant_icds=frozenset({"0088"}))
    with pytest.raises(IdentifierError):
        ParticipantId.parse("iso6523-actorid-upis::0088:123abc", policy)


def test_other_icds_when_allowed_are_lower_cased():
    assert ParticipantId.parse("iso6523-actorid-upis::9908:ABC123", ALL_ICDS).value == "9908:abc123"


@pytest.mark.parametrize("document_type", [SDK_MESSAGE_DOCUMENT_TYPE, SDK_RECEIPT_DOCUMENT_TYPE])
def test_sdk_document_types_keep_case_and_split_at_the_first_double_colon(document_type):
    document = DocumentTypeId.parse(document_type)
    assert document.scheme == "busdox-docid-qns"
    assert str(document) == document_type
    assert "MessageWithAttachments" in str(document) or "ApplicationResponse" in str(document)


def test_peppol_document_type_whose_subtype_contains_double_colons():
    text = (
        "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
        "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
    )
    document = DocumentTypeId.parse(text)
    assert document.scheme == "busdox-docid-qns"
    assert document.value.endswith("billing:3.0::2.1")


@pytest.mark.parametrize("scheme", ["busdox-docid-qns", "BUSDOX-DOCID-QNS", "Busdox-DocId-Qns"])
def test_document_schemes_are_case_insensitive_and_values_follow_the_scheme(scheme):
    # busdox-docid-qns values are case-sensitive (Peppol POLICY 2): kept as written
    assert DocumentTypeId.parse(f"{scheme}::urn:X::Y##Z") == DocumentTypeId("busdox-docid-qns", "urn:X::Y##Z")
    # any other scheme: folded, as OASIS SMP says unless the scheme says otherwise
    other = scheme[0] + scheme[3] + scheme[5:]  # bdx-docid-qns in the same case
    assert DocumentTypeId.parse(f"{other}::urn:X::Y##Z") == DocumentTypeId("bdx-docid-qns", "urn:x::y##z")


@pytest.mark.parametrize(
    ("policy", "busdox", "bdx"),
    [
        (IdentifierPolicy(), "urn:X", "urn:x"),
        (IdentifierPolicy(case_sensitive_document_schemes=frozenset()), "urn:x", "urn:x"),
        (IdentifierPolicy(case_sensitive_document_schemes=frozenset({"*"})), "urn:X", "urn:X"),
        (IdentifierPolicy(case_sensitive_document_schemes=frozenset({"bdx-docid-qns"})), "urn:x", "urn:X"),
    ],
    ids=["default", "none", "every", "bdx only"],
)
def test_the_case_policy_is_per_scheme(policy, busdox, bdx):
    assert DocumentTypeId.parse("BUSDOX-DOCID-QNS::urn:X", policy).value == busdox
    assert DocumentTypeId.parse("bdx-docid-qns::urn:X", policy).value == bdx
    # stored identifiers are read through the same rule
    assert DocumentTypeId.canonical("BUSDOX-DOCID-QNS", "urn:X", policy) == DocumentTypeId.parse(
        "busdox-docid-qns::urn:X", policy
    )


def test_process_values_follow_their_own_policy():
    assert ProcessId.parse("URN:FDC:DIGG.SE:EDELIVERY:PROCESS::bdx:NoProcess") == ProcessId(
        "urn:fdc:digg.se:edelivery:process", "bdx:NoProcess"
    )
    assert ProcessId.parse("other-procid::Urn:P").value == "urn:p"
    folding = IdentifierPolicy(case_sensitive_process_schemes=frozenset())
    assert ProcessId.parse("cenbii-procid-ubl::urn:P", folding).value == "urn:p"
    assert ProcessId.canonical("Cenbii-Procid-Ubl", "urn:P") == ProcessId("cenbii-procid-ubl", "urn:P")


def test_process_identifier():
    process = ProcessId.parse("urn:fdc:digg.se:edelivery:process::bdx:noprocess")
    assert (process.scheme, process.value) == ("urn:fdc:digg.se:edelivery:process", "bdx:noprocess")


@pytest.mark.parametrize(
    "text",
    ["::value", "bad scheme::x", "busdox-docid-qns::", "busdox-docid-qns::" + "x" * 501, "sch\x01eme::x", "a::b\x7f"],
)
def test_malformed_document_identifiers(text):
    with pytest.raises(IdentifierError):
        DocumentTypeId.parse(text)


@pytest.mark.parametrize(
    "identifier",
    ["sdk:inkorg:0203:digg.se", "sdk.testbed.0203:testa.testbed.inera.se", "SE2321000016-12345", "a"],
)
def test_function_address_identifiers(identifier):
    assert validate_function_address_identifier(identifier) == identifier


@pytest.mark.parametrize("identifier", ["", " ", "sdk inkorg", "<script>", "sdk:inkorg:", "-x", "å", "x" * 257])
def test_function_address_identifiers_rejected(identifier):
    with pytest.raises(IdentifierError):
        validate_function_address_identifier(identifier)


# --- properties -------------------------------------------------------------------------------------

labels = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda s: s[2:4] != "--")
domains = st.lists(labels, min_size=1, max_size=4).map(lambda parts: ".".join([*parts, "se"]))


@given(domains)
def test_domain_participants_round_trip(domain):
    participant = ParticipantId.parse(f"iso6523-actorid-upis::0203:{domain}")
    assert ParticipantId.parse(str(participant)) == participant
    assert ParticipantId.parse(str(participant).upper()) == participant
    assert decode_url_segment(url_segment(participant)) == str(participant)


@given(st.text(min_size=1, max_size=300))
@example("busdox-docid-qns::a/b#c%d?e f")
def test_url_segments_round_trip_any_text(text):
    encoded = url_segment(text)
    assert "/" not in encoded and "#" not in encoded and "?" not in encoded
    assert decode_url_segment(encoded) == text


@given(st.text(max_size=200))
def test_parsing_arbitrary_text_either_fails_cleanly_or_round_trips(text):
    for parser in (
        lambda t: ParticipantId.parse(t, LENIENT_POLICY),
        DocumentTypeId.parse,
        ProcessId.parse,
    ):
        try:
            parsed = parser(text)
        except IdentifierError:
            continue
        assert parser(str(parsed)) == parsed


@given(st.from_regex(r"\d{9}", fullmatch=True), st.integers(0, 9))
def test_exactly_one_check_digit_makes_an_organisation_number_valid(first_nine, digit):
    candidates = [d for d in range(10) if _valid(first_nine + str(d))]
    assert len(candidates) == 1
    assert _valid(first_nine + str(digit)) == (digit == candidates[0])


def _valid(number: str) -> bool:
    try:
        normalise_organisation_number(number)
    except IdentifierError:
        return False
    return True


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80))
def test_arbitrary_domain_text_never_raises_anything_but_identifier_error(text):
    assume("." in text or len(text) > 3)
    try:
        result = validate_domain_name(text)
    except IdentifierError:
        return
    assert result.isascii() and result == result.lower()
    assert validate_domain_name(result) == result
