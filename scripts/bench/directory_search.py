"""Directory search, paging and sync at 100,000 function addresses in 10,000 organisations (PostgreSQL).

    PYTHONPATH=. .venv/bin/python -m scripts.bench.directory_search --organisations 10000 --per-organisation 10

A fresh database gets synthetic Swedish-looking organisations (approved participants: kommun, region,
myndighet, verket) with ten function addresses each, drawn from ~70 real function names, plus keywords,
categories and descriptions. The rows go in with COPY; the directory entries are then built by
``sync.rebuild`` (timed). Every request goes through the real endpoint in-process (Flask test client:
no socket, everything else real, JSON:API rendering included); latency is per request, sequential,
after 20 warm-up requests. Query kinds:

* one word: an organisation's own name word (matches about ten addresses);
* two words: a function and an organisation ("registrator solbergavik");
* misspelt: an organisation word or a function with one typo (swap, drop, double or replace a letter);
* very common: words in tens of thousands of entries (registrator, kommun, ekonomi, förskola).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text

from app import create_app, schema
from app.database import Database
from app.directory import sync
from app.registry.bulk import insert_rows
from app.registry.columns import utcnow
from app.registry.models import Code, CodeSystem, FunctionAddress, Organisation, function_address_categories
from app.settings import load_settings


def _words(text: str) -> list[str]:
    return text.split()


POSTGRES = os.environ.get("SDK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

FIRST = _words("ar bo da ek fal gran hel is jö kal lin mal nor ox ping rätt sol tran upp vär åm äng öst bjur kvarn")
MIDDLE = _words("by berg holm sund köping stad vik dal ryd hult fors näs torp lunda hamn mark bro tuna sjö lid")
LAST = _words("a e o en et ne ra sa va la ta ma ka da ga ha ja na pa sta")
#: For more than the 11,025 plain names: each again with one of these endings (231,525 in all).
ENDINGS = _words(
    "norr söder väster öster över neder inre yttre lilla stora gamla nya bruk strand skog fjäll slätt mo udde"
)
KINDS = [("kommun", 6), ("region", 1), ("myndigheten", 2), ("verket", 1)]
FUNCTIONS = """Registrator;Socialtjänst;Äldreomsorg;Hemtjänst;Bygglov;Överförmyndare;Förskola;Grundskola;Gymnasieskola;
Vuxenutbildning;Ekonomi;Lönekontor;Personal;IT-support;Miljö- och hälsoskydd;Livsmedelskontroll;Räddningstjänst;
Kommunstyrelsen;Kommunfullmäktige;Arkiv;Upphandling;Fakturor;Kundtjänst;Medborgarservice;Färdtjänst;Bostadsanpassning;
Försörjningsstöd;Individ- och familjeomsorg;Barn och unga;Missbruk och beroende;LSS-handläggning;Kultur och fritid;
Bibliotek;Gata och park;Vatten och avlopp;Renhållning;Samhällsbyggnad;Lantmäteri;Detaljplaner;Trafik och parkering;
Energi- och klimatrådgivning;Näringsliv;Turism;Elevhälsa;Skolskjuts;Tillstånd alkohol;Serveringstillstånd;
Krisberedskap;Säkerhetsskydd;Dataskydd;Kommunikation;Växel;Nämndsekreterare;Valnämnd;Hälso- och sjukvård;
Samordnad vårdplanering;Vårdcentral;Tandvård;Smittskydd;Patientnämnd;Kollektivtrafik;Regional utveckling;
Tillväxt;Folkhälsa;Laboratoriemedicin;Ambulans;Habilitering;Hjälpmedel;Psykiatri;Rättspsykiatri""".replace(
    "\n", ""
).split(";")
KEYWORDS = _words("diarium allmän handling ansökan överklagande beslut faktura remiss anmälan vårdplan intyg klagomål")
PHRASES = [
    "Här tar vi emot ärenden som gäller",
    "Skicka handlingar och frågor om",
    "Funktionen handlägger",
    "För frågor från andra myndigheter om",
    "Digital brevlåda för",
]
CATEGORIES = ["registrator", "socialtjanst", "halso-och-sjukvard", "vardplanering", "tillstand", "ekonomi"]


def base_names(count: int, rng: random.Random) -> list[str]:
    names = sorted({f + m + last for f in FIRST for m in MIDDLE for last in LAST})
    rng.shuffle(names)
    if count > len(names):
        names += [name + ending for ending in ENDINGS for name in names]
    if count > len(names):
        raise SystemExit(f"at most {len(names)} organisations")
    return names[:count]


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "double", "replace"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiouyåäönrst") + word[i + 1 :]


def load(database: Database, organisations: int, per_organisation: int, rng: random.Random) -> list[str]:
    now = utcnow()
    bases = base_names(organisations, rng)
    kinds = [k for k, weight in KINDS for _ in range(weight)]
    org_rows, address_rows, links = [], [], []
    system_id = uuid.uuid4()
    code_ids = {code: uuid.uuid4() for code in CATEGORIES}
    versioned = {"created_at": now, "updated_at": now, "version": 1}
    for n, base in enumerate(bases):
        org_id = uuid.uuid4()
        domain = base.encode("idna").decode()  # as the identifier rules store it: östby → xn--stby-jua
        kind = rng.choice(kinds)
        org_rows.append(
            {
                "id": org_id,
                "type": "o",
                "participant_scheme": "iso6523-actorid-upis",
                "participant_value": f"0203:{domain}.se",
                "organisation_number": f"{2120000000 + n}",
                "name": f"{base.capitalize()} {kind}",
                "federation_status": "approved",
                "status_changed_at": now,
                **versioned,
            }
        )
        for function in rng.sample(FUNCTIONS, per_organisation):
            address_id = uuid.uuid4()
            slug = "".join(c for c in function.lower() if c.isalnum())
            address_rows.append(
                {
                    "id": address_id,
                    "organisation_id": org_id,
                    "identifier": f"sdk:{slug}:0203:{domain}.se",
                    "identifier_folded": f"sdk:{slug}:0203:{domain}.se",
                    "name": function,
                    "description": f"{rng.choice(PHRASES)} {function.lower()} i {base.capitalize()}.",
                    "keywords": rng.sample(KEYWORDS, 2),
                    "status": "active",
                    **versioned,
                }
            )
            links.append({"function_address_id": address_id, "code_id": code_ids[rng.choice(CATEGORIES)]})
    with database.writer() as session:
        insert_rows(
            session,
            CodeSystem.__table__,
            [{"id": system_id, "identifier": "urn:bench:kategorier", "name": "Kategorier", **versioned}],
        )
        insert_rows(
            session,
            Code.__table__,
            [
                {
                    "id": i,
                    "code_system_id": system_id,
                    "code": c,
                    "display_name": c.replace("-", " ").title(),
                    **versioned,
                }
                for c, i in code_ids.items()
            ],
        )
        insert_rows(session, Organisation.__table__, org_rows)
        insert_rows(session, FunctionAddress.__table__, address_rows)
        insert_rows(session, function_address_categories, links)
    return bases


def timed(client, urls: list[str]) -> tuple[float, float, float]:
    for url in urls[:20]:
        client.get(url)
    samples = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], samples[-1]


def search_latencies(client, bases: list[str], n: int, rng: random.Random) -> dict[str, tuple[float, float, float]]:
    """p50, p95 and max of every query kind (printed as a table): the directory's search as users use it."""
    search = "/addressbook/api/v1/addresses?page[size]=20&q="
    function_words = [f.split()[0].strip(",").lower() for f in FUNCTIONS if len(f.split()[0]) >= 6]
    kinds = {
        "one word": [search + quote(rng.choice(bases)) for _ in range(n)],
        "two words": [search + quote(f"{rng.choice(function_words)} {rng.choice(bases)}") for _ in range(n)],
        "misspelt": [search + quote(typo(rng.choice(bases + function_words), rng)) for _ in range(n)],
        "very common": [search + quote(w) for w in ["registrator", "kommun", "ekonomi", "förskola"] * (n // 4)],
        "organisation search": [
            "/addressbook/api/v1/organizations?page[size]=20&q=" + quote(rng.choice(bases)[:5]) for _ in range(n)
        ],
    }
    results = {}
    print("| query kind | n | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|")
    for label, urls in kinds.items():
        results[label] = p50, p95, worst = timed(client, urls)
        print(f"| {label} | {len(urls)} | {p50:.1f} | {p95:.1f} | {worst:.1f} |", flush=True)
    return results


def run(options) -> None:
    rng = random.Random(options.seed)
    name = f"sdk_search_bench_{os.getpid()}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    work = Path(tempfile.mkdtemp(prefix="sdk-search-bench-"))
    try:
        database = Database(db_url)
        schema.upgrade(database)
        started = time.monotonic()
        bases = load(database, options.organisations, options.per_organisation, rng)
        loaded = time.monotonic() - started
        started = time.monotonic()
        with database.writer() as session:
            built = sync.rebuild(session)
        rebuilt = time.monotonic() - started
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        print(
            f"loaded {options.organisations} organisations, {len(bases) * options.per_organisation} addresses "
            f"with COPY in {loaded:.1f} s; directory entries built in {rebuilt:.1f} s ({built.changed} entries)"
        )
        settings = load_settings(
            {
                "SDK_DATABASE_URL": db_url,
                "SDK_INSTANCE_DIR": str(work),
                "SDK_ENV_FILE": "/x",
                "SDK_DIRECTORY_RATE_LIMIT": "0",
            }
        )
        client = create_app(settings, database=database).test_client()
        search_latencies(client, bases, options.queries, rng)
        n = options.queries
        pages = []
        url = "/addressbook/api/v1/addresses?page[size]=100"
        while url and len(pages) < n:
            started = time.perf_counter()
            body = client.get(url).get_json()
            pages.append((time.perf_counter() - started) * 1000)
            url = body["links"].get("next")
        pages.sort()
        print(
            f"| page fetch (100 addresses, keyset) | {len(pages)} | {statistics.median(pages):.1f} | "
            f"{pages[int(len(pages) * 0.95) - 1]:.1f} | {pages[-1]:.1f} |"
        )
        for kind in ("addresses", "organizations"):
            started = time.monotonic()
            url = f"/addressbook/api/v1/{kind}?filter[updatedSince]=1970-01-01T00:00:00Z&page[size]=1000"
            count = 0
            while True:
                body = client.get(url).get_json()
                count += len(body["data"])
                if "next" not in body["links"]:
                    break
                url = body["links"]["next"]
            print(
                f"full sync of {kind} through the change feed: {count} resources in {time.monotonic() - started:.1f} s"
            )
        database.dispose()
    finally:
        if options.keep:
            print(f"kept the database: {db_url}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisations", type=int, default=10_000)
    parser.add_argument("--per-organisation", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (to EXPLAIN queries)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
