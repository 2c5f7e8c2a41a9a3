"""Every setting is parsed and validated in one place; a bad value names the setting and the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import DEFAULT_DOCUMENT_TYPES, HostPort, SettingsError, load_settings


def load(tmp_path: Path, **environ: str):
    return load_settings({"SDK_ENV_FILE": str(tmp_path / "missing.env"), **environ}, cwd=tmp_path)


def test_defaults_are_the_embedded_single_machine_setup(tmp_path):
    settings = load(tmp_path)
    assert settings.instance_dir == tmp_path / "instance"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'sdk-addressbook.sqlite3'}"
    assert settings.dns_mode == "embedded"
    assert settings.dns_listen == HostPort("127.0.0.1", 5353)
    assert settings.http_listen == HostPort("127.0.0.1", 8080)
    assert settings.public_url == "http://127.0.0.1:8080"
    assert not settings.public_url_configured
    assert settings.smp_path == "/smp"
    assert settings.smp_base_url == "http://127.0.0.1:8080/smp"
    assert settings.dns_record_types == frozenset({"naptr"})
    assert settings.document_types == DEFAULT_DOCUMENT_TYPES
    assert settings.participant_icds == frozenset({"0203"})


def test_values_are_normalised(tmp_path):
    settings = load(
        tmp_path,
        SDK_PUBLIC_URL="https://smp.example.se/",
        SDK_SMP_PATH="smp/",
        SDK_SML_ZONE="SML.Example.SE.",
        SDK_DNS_RECORD_TYPES="all",
        SDK_DATABASE_URL="postgresql://u@127.0.0.1:5432/db",
        SDK_PARTICIPANT_ICDS="0203, 0007",
        SDK_LOG_LEVEL="debug",
        SDK_HTTP_LISTEN="[::1]:9000",
    )
    assert settings.public_url == "https://smp.example.se"
    assert settings.smp_path == "/smp"
    assert settings.smp_base_url == "https://smp.example.se/smp"
    assert settings.sml_zone == "sml.example.se"
    assert settings.dns_record_types == frozenset({"naptr", "cname"})
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1:5432/db"
    assert settings.participant_icds == frozenset({"0203", "0007"})
    assert settings.log_level == "DEBUG"
    assert str(settings.http_listen) == "[::1]:9000"


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env = tmp_path / ".env"
    env.write_text("# comment\nexport SDK_DNS_TTL=120\nSDK_SML_ZONE='a.example.se'\n\n", encoding="utf-8")
    settings = load_settings({"SDK_SML_ZONE": "b.example.se"}, cwd=tmp_path)
    assert settings.dns_ttl == 120
    assert settings.sml_zone == "b.example.se"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("SDK_DNS_TTL", "abc", "whole number"),
        ("SDK_DNS_TTL", "-1", "whole number"),
        ("SDK_DNS_MODE", "bind", "one of embedded, rfc2136"),
        ("SDK_DNS_LISTEN", "localhost", "HOST:PORT"),
        ("SDK_DNS_LISTEN", "127.0.0.1:70000", "port"),
        ("SDK_PUBLIC_URL", "smp.example.se", "absolute http"),
        ("SDK_PUBLIC_URL", "https://smp.example.se/?x=1", "query"),
        ("SDK_PUBLIC_URL", "https://smp.example.se/a!b", "'!'"),
        ("SDK_PUBLIC_URL", 'https://smp.example.se/a"b', "'!'"),
        ("SDK_SMP_PATH", "/smp/<x>", "URL path"),
        ("SDK_SML_ZONE", "bad_zone!", "DNS name"),
        ("SDK_DNS_RECORD_TYPES", "naptr,a", "naptr, cname"),
        ("SDK_DNS_TRANSFER_ALLOW", "10.0.0.0/8,secondary.example.se", "addresses or networks"),
        ("SDK_MAX_REQUEST_BYTES", "10", "whole number"),
        ("SDK_DATABASE_URL", "mysql://x", "sqlite"),
        ("SDK_SIGNING_KEY", "/nonexistent/key.pem", "no such file"),
        ("SDK_TRUST_SMP_CA", "/nonexistent/ca.pem", "no such file"),
        ("SDK_TRANSPORT_PROFILES", "ok-profile, bad profile!", "transport profile"),
        ("SDK_DOCUMENT_TYPES", "not-a-document-type", "'::'"),
        ("SDK_PARTICIPANT_ICDS", "203", "four-digit"),
        ("SDK_CASE_SENSITIVE_DOCUMENT_IDS", "false", "replaced by SDK_CASE_SENSITIVE_DOCUMENT_SCHEMES"),
        ("SDK_CASE_SENSITIVE_DOCUMENT_SCHEMES", "bad scheme", "not a valid identifier scheme"),
        ("SDK_CASE_SENSITIVE_PROCESS_SCHEMES", ",", "must name identifier schemes"),
        ("SDK_DNS_SMP_FLAVOUR", "smp3", "oasis1"),
        ("SDK_PUBLIC_URL", "https://" + "a" * 240 + ".se", "too long for a NAPTR record"),
        ("SDK_DNS_TSIG_SECRET", "not base64!!", "base64"),
        ("SDK_DNS_TSIG_SECRET", "c2hvcnQ=", "too short"),
        ("SDK_DNS_TSIG_ALGORITHM", "md5", "one of"),
        ("SDK_MODE", "staging", "development, production"),
        ("SDK_CERT_WARN_DAYS", "0", "whole number"),
        ("SDK_DIRECTORY_RATE_LIMIT", "-1", "whole number"),
        ("SDK_DNSSEC", "sometimes", "true or false"),
        ("SDK_DNSSEC_KEY", "/nonexistent/zone.key", "no such file"),
        ("SDK_DNSSEC_VALIDITY_DAYS", "1", "whole number"),
        ("SDK_TYPO_SETTING", "1", "not a setting"),
    ],
)
def test_a_bad_value_names_the_setting_and_the_reason(tmp_path, name, value, reason):
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, **{name: value})
    assert caught.value.name == name
    assert reason in caught.value.reason
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{name}: ")


def test_combinations_are_checked(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("x")
    with pytest.raises(SettingsError, match="SDK_SIGNING_CERT"):
        load(tmp_path, SDK_SIGNING_KEY=str(key))
    with pytest.raises(SettingsError, match="SDK_DNS_PRIMARY: is required when SDK_DNS_MODE=rfc2136"):
        load(tmp_path, SDK_DNS_MODE="rfc2136")
    with pytest.raises(SettingsError, match="SDK_SECRET_KEY: production mode needs a secret key"):
        load(tmp_path, SDK_MODE="production")
    secret = "s" * 32
    with pytest.raises(SettingsError, match="production mode needs PostgreSQL"):
        load(tmp_path, SDK_MODE="production", SDK_SECRET_KEY=secret)
    with pytest.raises(SettingsError, match="SDK_SECRET_KEY: must be at least 32 characters"):
        load(tmp_path, SDK_SECRET_KEY="short")
    with pytest.raises(SettingsError, match="SDK_DNSSEC: signs the embedded server's zone; with rfc2136 the primary"):
        load(
            tmp_path,
            SDK_DNSSEC="on",
            SDK_DNS_MODE="rfc2136",
            SDK_DNS_PRIMARY="127.0.0.1:5300",
            SDK_DNS_TSIG_KEY_NAME="smp-update",
            SDK_DNS_TSIG_SECRET="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMw==",
        )
    signed = load(tmp_path, SDK_DNSSEC="on", SDK_SML_ZONE="sml.example.se")
    assert signed.dnssec_key_path == signed.instance_dir / "dnssec" / "sml.example.se.key"


def test_rfc2136_mode_with_everything_set(tmp_path):
    settings = load(
        tmp_path,
        SDK_DNS_MODE="rfc2136",
        SDK_DNS_PRIMARY="127.0.0.1:5300",
        SDK_DNS_TSIG_KEY_NAME="smp-update",
        SDK_DNS_TSIG_SECRET="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMw==",
    )
    assert settings.dns_primary == HostPort("127.0.0.1", 5300)


def test_malformed_env_file_line(tmp_path):
    env = tmp_path / ".env"
    env.write_text("this is not a setting\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="line 1 is not KEY=value"):
        load_settings({}, cwd=tmp_path)


def test_command_line_stops_with_one_line_and_exit_status_2(tmp_path):
    executable = Path(sys.executable).with_name("sdk-addressbook")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SDK_")}
    environ.update(SDK_DNS_TTL="soon", SDK_ENV_FILE=str(tmp_path / "none"))
    result = subprocess.run(
        [str(executable), "init"], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sdk-addressbook: SDK_DNS_TTL: must be a whole number from 0 to 2147483647, got 'soon'"
    ]
    assert not (tmp_path / "instance").exists()


def test_the_case_policy_reads_scheme_lists_and_canonicalises_the_document_types(tmp_path):
    folded = load(tmp_path, SDK_CASE_SENSITIVE_DOCUMENT_SCHEMES="none", SDK_DOCUMENT_TYPES="BUSDOX-DOCID-QNS::urn:X")
    assert folded.document_types == ("busdox-docid-qns::urn:x",)
    kept = load(tmp_path, SDK_DOCUMENT_TYPES="BUSDOX-DOCID-QNS::urn:X")
    assert kept.document_types == ("busdox-docid-qns::urn:X",)
    every = load(tmp_path, SDK_CASE_SENSITIVE_DOCUMENT_SCHEMES="*, BDX-DOCID-QNS")
    assert every.case_sensitive_document_schemes == frozenset({"*", "bdx-docid-qns"})


def test_every_setting_is_documented():
    from pathlib import Path

    from app.settings import _KNOWN

    text = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]  # a setting's row (some share one)
    assert [name for name in sorted(_KNOWN) if not any(f"`{name}`" in row.split(" | ")[0] for row in rows)] == []
