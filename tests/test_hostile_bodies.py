"""Bodies a hostile client sends: too large, nested too deep, numbers too long. Each is a 4xx problem
answered before the work is done, and nothing is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from app.registry.models import Organisation
from tests.api_support import Api, problem
from tests.conftest import make_settings


@pytest.fixture
def small(api, db, pki_instance_dir) -> Api:
    """The seeded API with a 4 KiB body limit (8 KiB for imports)."""
    settings = make_settings(pki_instance_dir, db.url, SDK_MAX_REQUEST_BYTES="4096", SDK_MAX_IMPORT_BYTES="8192")
    return Api(create_app(settings, database=db).test_client(), api.tokens, api.ids)


def _organisations(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(Organisation))


def test_a_body_over_the_limit_is_413_before_it_is_read(small, db):
    before = _organisations(db)
    body = {
        "type": "o",
        "name": "x" * 5000,
        "participantIdentifier": "0203:stor.se",
        "organisationNumber": "2120000142",
    }
    too_large = small("POST", "/api/v1/organisations", json=body)
    assert "at most 4096" in problem(too_large, 413)["detail"]
    # Authentication comes after the size: a stranger's large body costs nothing either.
    problem(small("POST", "/api/v1/organisations", None, json=body), 413)
    kommun = small.ids["0203:exempelkommun.se"]
    imports = f"/api/v1/organisations/{kommun}/function-addresses/import"
    header = "identifier,name,description,categories,keywords\n"
    rows = "".join(f"sdk:rad{n}:0203:exempelkommun.se,Rad {n},,,\n" for n in range(150))  # 6 KiB: imports may
    dry_run = small("POST", imports, data=(header + rows).encode(), content_type="text/csv")
    assert dry_run.status_code == 200 and dry_run.get_json()["rows"] == 150
    more = small("POST", imports, data=(header + rows * 2).encode(), content_type="text/csv")
    assert "at most 8192" in problem(more, 413)["detail"]
    assert _organisations(db) == before


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"name": ' + "9" * 5000 + "}",
        '{"name": "x", "a": {"b": ' * 20_000 + "1" + "}" * 40_000,
    ],
    ids=["deep-array", "huge-integer", "deep-object"],
)
def test_bodies_json_cannot_hold_are_400(api, db, raw):
    before = _organisations(db)
    answer = api("POST", "/api/v1/organisations", data=raw, content_type="application/json")
    assert problem(answer, 400)["type"].endswith(":malformed-body")
    assert _organisations(db) == before


@pytest.mark.parametrize("cn", ["AP0009\x00DEMO", "AP0009\u202eOMED"], ids=["nul", "bidi-override"])
def test_an_access_point_certificate_whose_cn_hides_characters_is_refused(api, db, tmp_path, settings, cn):
    """The CN becomes the AP id: PostgreSQL cannot store NUL in text, and a bidi override disguises it."""
    from app.trust.devpki import DevelopmentPki, KeyPair, issue_leaf

    pki = DevelopmentPki(settings.pki_dir)
    pair = issue_leaf(pki.ap_ca, KeyPair(tmp_path / "hidden.key", tmp_path / "hidden.crt"), cn, usage="access-point")
    body = {"apOperator": str(api.ids["ap"]), "certificate": pair.certificate.read_text()}
    refused = problem(api("POST", "/api/v1/access-points", json=body), 422)
    assert refused["type"].endswith(":domain-rule") and "subject CN holds U+" in refused["detail"]
