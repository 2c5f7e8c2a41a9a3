"""DNS names against every vector of reference/protocols.md §3 and reference/anchors.md §5.1–5.2."""

from __future__ import annotations

import pytest

from app.dns.naming import cname_label, cname_name, naptr_label, naptr_name
from app.identifiers import ParticipantId

S = "iso6523-actorid-upis"


@pytest.mark.parametrize(
    ("scheme", "value", "zone", "expected"),
    [
        (
            S,
            "0088:123abc",
            "participant.sml.prod.tech.peppol.org",
            "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org",
        ),
        (
            S,
            "0088:123ABC",
            "participant.sml.prod.tech.peppol.org",
            "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org",
        ),
        (
            S,
            "9915:test",
            "participant.sml.test.tech.peppol.org",
            "B-85008b8279e07ab0392da75fa55856a2.iso6523-actorid-upis.participant.sml.test.tech.peppol.org",
        ),
        (
            None,
            "0088:123abc",
            "participant.sml.prod.tech.peppol.org",
            "B-f5e78500450d37de5aabe6648ac3bb70.participant.sml.prod.tech.peppol.org",
        ),
        (
            S,
            "",
            "participant.sml.prod.tech.peppol.org",
            "B-d41d8cd98f00b204e9800998ecf8427e.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org",
        ),
        (S, "0088:123ABC", "at.", "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis.at"),
        (S, "0088:123ABC", "", "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis"),
        (
            S,
            "9908:difi",
            "edelivery.tech.ec.europa.eu",
            "B-42fabff13df16391dbd1f01b7c05d0e7.iso6523-actorid-upis.edelivery.tech.ec.europa.eu",
        ),
        (
            S,
            "9908:DIFI",
            "edelivery.tech.ec.europa.eu",
            "B-42fabff13df16391dbd1f01b7c05d0e7.iso6523-actorid-upis.edelivery.tech.ec.europa.eu",
        ),
        (
            S,
            "9918:999",
            "edelivery.tech.ec.europa.eu",
            "B-bd02140a4d95d537336ce345297d41d9.iso6523-actorid-upis.edelivery.tech.ec.europa.eu",
        ),
        (
            S,
            "9908:987700912",
            "sml.peppolcentral.org",
            "B-3e3b7c56d786753a39b73b60396487bd.iso6523-actorid-upis.sml.peppolcentral.org",
        ),
    ],
)
def test_cname_names(scheme, value, zone, expected):
    assert cname_name(scheme, value, zone) == expected


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("0007:5592672736", "b-f149c8538197b1b882ff342757c30751"),
        ("0192:983974899", "b-8b8d425355f48addbeee9eb53a20e6aa"),
        ("9908:810017902", "b-ddc207601e442e1b751e5655d39371cd"),
        ("0010:5798000000001", "b-e49b223851f6e97cbfce4f72c3402aac"),
        ("0106:96554657", "b-8b778fb80aad3e61134f2588da8eb8a2"),
        ("0192:993467049", "b-9377fb89562abe7facc3ac77fd087772"),
        ("9930:DE257746542", "b-3ebc60ae69525acc4f3013a443a99889"),
        ("0088:5798000000001", "b-4c7e158a31c6dfa533dcfaf4b80fb205"),
    ],
)
def test_cname_labels_from_live_records(value, prefix):
    assert cname_label(value).lower() == prefix


NAPTR_VECTORS = [
    ("0088:123abc", "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq"),
    ("0088:123ABC", "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq"),
    ("0088:1234567890123", "sjsyvccmqyjxk3weuapffq4x3umcrf4qryherj4vovhmonh7gccq"),
    ("0010:5798000000001", "xukhfqabqziki3ykvr2fhr4snfa3pf5vpq6k4tonv3lmvsy5arvq"),
    ("9915:test", "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a"),
    ("9915:tooptest", "ba6jo7lwby53j47um53xpfz6fzrtk7lhjjtb32dv5a74ifcoegwq"),
    ("9915:ToopTest", "ba6jo7lwby53j47um53xpfz6fzrtk7lhjjtb32dv5a74ifcoegwq"),
    ("9999:elonia", "hsh3fmc5cyerdv5j6ln6mmqcn2pp2ucyvczrwueahosobvikb6kq"),
    ("9934:18683136487", "yktnekuybobtefs3pxs5gbbgk24grlivhxrz52ayvi7pi34siagq"),
    ("9934:38441291513", "fltznzcpekj5jacdbfpz4ld52nl6p37p4hm5x36shdbyvehtvr7a"),
    ("9934:00042644647", "647nqonsxbkn3gwsahjvc3kzwdksoj4kv7pqwf3kwwaln2udwo4q"),
    ("abc", "xj4bnp4pahh6uqkbidpf3lrceoyagyndsylxvhfucd7wd4qacwwq"),
    ("ABC", "xj4bnp4pahh6uqkbidpf3lrceoyagyndsylxvhfucd7wd4qacwwq"),
    (
        "urn:oasis:names:tc:ebcore:partyid-type:iso6523:0060:1234567890128",
        "4444wypixhstjggabkb7qmg63kjnr7ifmxralgpordxi6zf64hua",
    ),
    ("9946:pt501507930", "m2v5cjbjvuyeukpuegc4f3dpebbcjzi3pbxfegruqk3r3j42x5vq"),
    ("9915:de4atest", "54vmpcqa26dnzs74vhqokj7u6irbbi5kpmq6ao3kvcqc3f6yr2ya"),
    ("9918:999", "gakd6jxeurrdrxqrkknibgowzra2iqqjnakxsnoofzkzmo6rfvyq"),
    ("0192:810418052", "wswqfoxzytbmhobgzefqk5ivxjvmafrq4ovcmy3evcn6qdokemvq"),
    ("0088:5798000000001", "reana6asz6h7dlkfrw4fbjgue7z74gx3uta2oik2p6tawtasctoq"),
    ("0203:digg.se", "72chqpy5ohsq6xr4iy7fdoegwgqcf5mmnoj5tbwqifxcvjumf52a"),
]


@pytest.mark.parametrize(("value", "label"), NAPTR_VECTORS)
def test_naptr_labels(value, label):
    assert naptr_label(value) == label


def test_naptr_label_without_lower_casing():
    assert naptr_label("ABC", lowercase=False) == "wxkaixb7izx2sh7czrvl46jdfinfptprat32e3trnyfb4j4j354a"


@pytest.mark.parametrize(
    ("value", "label"),
    [
        # eDelivery BDXL 1.6 §1.5: upper-case Base32 as BDMSL stores it; DNS labels are case-insensitive
        (
            "urn:oasis:names:tc:ebcore:partyid-type:iso6523:0088:4035811991021",
            "i3qyb36ctayrfgthbycqzdtojfhgazjeglfooe7727egvdwrk5qq",
        ),
        ("0088:4035811991021", "lzmedsmzxyd37yc74tzvpycmuanfcmn667jhgbfqddrvmse6nyta"),
        ("9934:00000000001", "nkwm764qk7ienid74utu7rfkmjazau7gubmmuyfmwff6uxlpjm6a"),
        ("9934:11111111119", "5uzqy5sm4dgc5ufoljx57nrw567d2bsdymcgwxaqvh37lp5huycq"),
        ("dynceftest2party71gw", "y77igvvuuftbthsw5cwstwksfdr5mthzb4xfjxplu66hmkzr3mnq"),
    ],
)
def test_naptr_labels_bdmsl_upper_case_vectors(value, label):
    assert naptr_label(value, lowercase=False).lower() == label


@pytest.mark.parametrize(
    ("scheme", "value", "zone", "expected"),
    [
        (
            S,
            "9915:test",
            "participant.sml.test.tech.peppol.org",
            "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a.iso6523-actorid-upis.participant.sml.test.tech.peppol.org",
        ),
        (
            S,
            "0088:1234567890123",
            "participant.sml.test.tech.peppol.org.",
            "sjsyvccmqyjxk3weuapffq4x3umcrf4qryherj4vovhmonh7gccq.iso6523-actorid-upis.participant.sml.test.tech.peppol.org",
        ),
        (
            "ISO6523-ACTORID-UPIS",
            "0088:123ABC",
            "participant.sml.test.tech.peppol.org",
            "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq.iso6523-actorid-upis.participant.sml.test.tech.peppol.org",
        ),
        (
            S,
            "9915:ToopTest",
            "toop.acc.edelivery.tech.ec.europa.eu",
            "ba6jo7lwby53j47um53xpfz6fzrtk7lhjjtb32dv5a74ifcoegwq.iso6523-actorid-upis.toop.acc.edelivery.tech.ec.europa.eu",
        ),
        (
            None,
            "abc",
            "participant.sml.prod.tech.peppol.org",
            "xj4bnp4pahh6uqkbidpf3lrceoyagyndsylxvhfucd7wd4qacwwq.participant.sml.prod.tech.peppol.org",
        ),
    ],
)
def test_naptr_names(scheme, value, zone, expected):
    assert naptr_name(scheme, value, zone) == expected


def test_naptr_name_with_the_scheme_hashed_instead_of_a_scheme_label():
    # reference/anchors.md N9 and N13: the ebCore / DBNAlliance variant
    assert naptr_name(S, "123ABC", "participant.sml.prod.tech.peppol.org", scheme_in_zone=False) == (
        "beza6wfi6xjii32o5ypqnowxxywea6vfo2h3pnrfwrs5yifsrsaa.participant.sml.prod.tech.peppol.org"
    )
    assert naptr_name("GLN", "1234567890123", "sml.dbnalliance.com", scheme_in_zone=False) == (
        "qcie7f2ny3ze5nmhqse7z5j6jerds3gc437bfjl2k6vq6minb47a.sml.dbnalliance.com"
    )
    assert naptr_name("GLN", "1200109963131", "sml.dbnalliance.com", scheme_in_zone=False) == (
        "7tplwxyhofkmpvrl5khyxhce5afzmhlthdbvee2eq43zmunzkyxa.sml.dbnalliance.com"
    )


def test_the_worked_example_of_the_design():
    participant = ParticipantId.parse("iso6523-actorid-upis::0203:DIGG.se")
    assert naptr_name(participant.scheme, participant.value, "sml.example.se") == (
        "72chqpy5ohsq6xr4iy7fdoegwgqcf5mmnoj5tbwqifxcvjumf52a.iso6523-actorid-upis.sml.example.se"
    )
