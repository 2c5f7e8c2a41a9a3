"""Every ``SDK_*`` setting, parsed and validated in one place.

Settings come from the process environment, falling back to a ``.env`` file in the working directory
(or the file named by ``SDK_ENV_FILE``). A bad value raises :class:`SettingsError`, whose message is one
line naming the setting and the reason; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from app import identifiers

T = TypeVar("T")

SDK_MESSAGE_DOCUMENT_TYPE = (
    "busdox-docid-qns::urn:riv:infrastructure:messaging:MessageWithAttachments:3::messagePayload"
    "##3.0::tm-base-ext-sigenc"
)
SDK_RECEIPT_DOCUMENT_TYPE = (
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::ApplicationResponse"
    "##fdc:digg.se:edelivery:messagetype:response:1::2.1::tm-base-ext-sigenc"
)
DEFAULT_DOCUMENT_TYPES: tuple[str, ...] = (SDK_MESSAGE_DOCUMENT_TYPE, SDK_RECEIPT_DOCUMENT_TYPE)
# Digg's Transportprofil AS4 v1.0 names the first; a later revision (v1.2, from 2024-11-18) the second.
DEFAULT_TRANSPORT_PROFILES: tuple[str, ...] = ("digg-transport-as4-v1_0", "digg-transport-as4-v1_2")
LOOPBACK_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)

NO_HOSTS: tuple[str, ...] = ()

#: Where the public directory (JSON:API) is served, under the public URL.
DIRECTORY_PATH = "/addressbook/api/v1"
TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


class SettingsError(Exception):
    """A setting has a value the service cannot run with."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str
    mode: str = "development"
    public_url: str = "http://127.0.0.1:8080"
    public_url_configured: bool = False
    smp_path: str = "/smp"
    smp_cache_max_age: int = 300
    smp_memory_cache_seconds: float = 1.0
    smp_memory_cache_mb: int = 128
    sml_zone: str = "sml.sdk-addressbook.test"
    dns_mode: str = "embedded"
    dns_listen: HostPort = HostPort("127.0.0.1", 5353)
    dns_primary: HostPort | None = None
    dns_tsig_key_name: str | None = None
    dns_tsig_secret: str | None = None
    dns_tsig_algorithm: str = "hmac-sha256"
    dns_record_types: frozenset[str] = frozenset({"naptr"})
    #: The flavour NAPTR records (and an external SML) lead to: oasis1, peppol or oasis2.
    dns_smp_flavour: str = "oasis1"
    #: Who may transfer the zone (AXFR) from the embedded server.
    dns_transfer_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = LOOPBACK_NETWORKS
    dns_ttl: int = 60
    #: Whether the embedded server signs the zone (DNSSEC), with which key file (None: ``dnssec_key_path``'s
    #: default, made by ``init``), and how long each signature is valid (made again at half of it).
    dnssec: bool = False
    dnssec_key: Path | None = None
    dnssec_validity_days: int = 14
    http_listen: HostPort = HostPort("127.0.0.1", 8080)
    http_workers: int = 1
    http_threads: int = 8
    #: Seconds a request may take before gunicorn restarts its worker, and a stopping worker gets to finish.
    http_timeout: int = 30
    http_graceful_timeout: int = 20
    #: ``serve`` also runs the DNS side in a child process; false where it runs as its own ``worker``.
    serve_dns: bool = True
    #: Where ``worker`` answers /healthz and /metrics over HTTP (None: it does not).
    worker_health_listen: HostPort | None = None
    signing_key: Path | None = None
    signing_cert: Path | None = None
    signing_key_password: str | None = None
    trust_ap_ca: Path | None = None
    trust_smp_ca: Path | None = None
    trust_o2o_ca: Path | None = None
    trust_crls: Path | None = None
    transport_profiles: tuple[str, ...] = DEFAULT_TRANSPORT_PROFILES
    document_types: tuple[str, ...] = DEFAULT_DOCUMENT_TYPES
    participant_icds: frozenset[str] = frozenset({"0203"})
    case_sensitive_document_schemes: frozenset[str] = identifiers.CASE_SENSITIVE_DOCUMENT_SCHEMES
    case_sensitive_process_schemes: frozenset[str] = identifiers.CASE_SENSITIVE_PROCESS_SCHEMES
    cert_warn_days: int = 30
    #: Processes that sign when thousands of documents change at once (0: every core; 1: no pool).
    publish_processes: int = 0
    directory_rate_limit: int = 600
    #: Imports of more function addresses than this leave their directory entries to the worker.
    directory_inline_import_rows: int = 5000
    #: Redis for state every worker and replica shares (the directory's rate limit); None: in-process.
    redis_url: str | None = None
    redis_key_prefix: str = "sdk-addressbook"
    #: Reverse proxies in front that append to X-Forwarded-For/-Proto/-Host (0: trust none of them).
    proxy_hops: int = 0
    max_request_bytes: int = 1_048_576
    max_import_bytes: int = 134_217_728
    #: Signs the web console's session cookies; None: a random key kept in the instance folder (development).
    secret_key: str | None = None
    #: Failed logins in a row that lock an account, and for how long.
    login_lockout_attempts: int = 5
    login_lockout_minutes: int = 15
    #: OpenID Connect login for the console (off when no issuer is set); the IdP only proves who someone
    #: is: the account, with its role and scope, must exist here under the name the claim carries.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_username_claim: str = "email"
    oidc_scopes: str = "openid email profile"
    oidc_name: str = "OpenID Connect"
    log_level: str = "INFO"
    #: Where the worker keeps the audit chain's signed head, checked and moved on every interval (None: not).
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_interval: float = 300.0
    #: This service's own SMP: its id in the SML registry (and in an external SML, with ``SDK_SML_URL``).
    sml_smp_id: str = "sdk-addressbook"
    #: The request header a TLS-terminating proxy puts an SML caller's verified client certificate in, and the
    #: proxies it is believed from (the peer address, not X-Forwarded-For).
    sml_client_cert_header: str = "Client-Cert"
    sml_trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = LOOPBACK_NETWORKS
    #: The host names the SML's SOAP interface answers on (empty: any); its own host behind the mutual-TLS
    #: ingress, so that no other route of the ingress can carry a certificate header to it.
    sml_hosts: tuple[str, ...] = ()
    #: Whether a caller with a trusted SMP certificate may register its own SMP (ManageServiceMetadata Create).
    sml_smp_self_registration: bool = False
    sml_migration_key_days: int = 7
    #: Participants in one CreateList or DeleteList, and the body size of an SML request.
    sml_list_max: int = 10_000
    sml_max_request_bytes: int = 4 * 1_048_576
    #: An external SML this service registers its own participants in (its management base URL), with the
    #: client certificate and key it authenticates with and the CA bundle that verifies the SML's TLS.
    sml_url: str | None = None
    sml_client_cert: Path | None = None
    sml_client_key: Path | None = None
    sml_ca: Path | None = None
    sml_timeout: float = 30.0
    #: ``lookup``: the SML zone's DNSSEC trust anchor (DS or DNSKEY records), and how AP and CertPub
    #: certificates are checked for revocation (off, soft, hard).
    client_dnssec_anchor: Path | None = None
    client_revocation: str = "soft"

    @property
    def pki_dir(self) -> Path:
        """Where ``init`` keeps the development PKI."""
        return self.instance_dir / "pki"

    @property
    def dnssec_key_path(self) -> Path:
        """The zone's signing key: the configured file, else ``{instance}/dnssec/{zone}.key``."""
        return self.dnssec_key or self.instance_dir / "dnssec" / f"{self.sml_zone}.key"

    @property
    def smp_base_url(self) -> str:
        """The SMP root URL published in NAPTR records and used in ServiceGroup references."""
        return self.public_url + self.smp_path

    @property
    def directory_url(self) -> str:
        """The public directory's base URL (what ``lookup`` asks about a function address by default)."""
        return self.public_url + DIRECTORY_PATH

    @property
    def identifier_policy(self) -> identifiers.IdentifierPolicy:
        return identifiers.IdentifierPolicy(
            participant_icds=self.participant_icds,
            case_sensitive_document_schemes=self.case_sensitive_document_schemes,
            case_sensitive_process_schemes=self.case_sensitive_process_schemes,
        )


def read_env_file(path: Path) -> dict[str, str]:
    """Read ``KEY=value`` lines; ``#`` comments, blank lines, ``export`` and quotes are allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            raise SettingsError(str(path), f"line {number} is not KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_settings(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (default: ``os.environ``) and the ``.env`` file."""
    cwd = cwd or Path.cwd()
    environ = dict(os.environ if environ is None else environ)
    env_file = Path(environ.get("SDK_ENV_FILE", cwd / ".env"))
    source = {**read_env_file(env_file), **environ}
    unknown = sorted(k for k in source if k.startswith("SDK_") and k not in _KNOWN and not k.startswith("SDK_TEST_"))
    if unknown:
        if unknown[0] in _REPLACED:
            raise SettingsError(unknown[0], f"was replaced by {_REPLACED[unknown[0]]}")
        raise SettingsError(unknown[0], "is not a setting this service knows (misspelt?)")
    return _Reader(source, cwd).settings()


class _Reader:
    def __init__(self, source: Mapping[str, str], cwd: Path) -> None:
        self.source = source
        self.cwd = cwd

    def raw(self, name: str) -> str | None:
        value = self.source.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def get(self, name: str, parse: Callable[[str, str], T], default: T) -> T:
        value = self.raw(name)
        return default if value is None else parse(name, value)

    def settings(self) -> Settings:
        instance_dir = self.get("SDK_INSTANCE_DIR", self._path, self.cwd / "instance")
        database_url = self.get(
            "SDK_DATABASE_URL", _database_url, f"sqlite:///{instance_dir / 'sdk-addressbook.sqlite3'}"
        )
        public_url_raw = self.raw("SDK_PUBLIC_URL")
        http_listen = self.get("SDK_HTTP_LISTEN", _host_port, HostPort("127.0.0.1", 8080))
        public_url = _public_url("SDK_PUBLIC_URL", public_url_raw) if public_url_raw else f"http://{http_listen}"
        dns_mode = self.get("SDK_DNS_MODE", _choice("embedded", "rfc2136"), "embedded")
        checkpoint: Path | None = instance_dir / "audit-checkpoint.json"
        values: dict[str, Any] = {
            "instance_dir": instance_dir,
            "database_url": database_url,
            "mode": self.get("SDK_MODE", _choice("development", "production"), "development"),
            "public_url": public_url,
            "public_url_configured": public_url_raw is not None,
            "smp_path": self.get("SDK_SMP_PATH", _url_path, "/smp"),
            "smp_cache_max_age": self.get("SDK_SMP_CACHE_MAX_AGE", _integer(0, 31_536_000), 300),
            "smp_memory_cache_seconds": self.get("SDK_SMP_MEMORY_CACHE_SECONDS", _seconds(0, 3600), 1.0),
            "smp_memory_cache_mb": self.get("SDK_SMP_MEMORY_CACHE_MB", _integer(0, 65_536), 128),
            "sml_zone": self.get("SDK_SML_ZONE", _zone, "sml.sdk-addressbook.test"),
            "dns_mode": dns_mode,
            "dns_listen": self.get("SDK_DNS_LISTEN", _host_port, HostPort("127.0.0.1", 5353)),
            "dns_primary": self.get("SDK_DNS_PRIMARY", _host_port, None),
            "dns_tsig_key_name": self.get("SDK_DNS_TSIG_KEY_NAME", _zone, None),
            "dns_tsig_secret": self.get("SDK_DNS_TSIG_SECRET", _base64, None),
            "dns_tsig_algorithm": self.get("SDK_DNS_TSIG_ALGORITHM", _choice(*TSIG_ALGORITHMS), "hmac-sha256"),
            "dns_record_types": self.get("SDK_DNS_RECORD_TYPES", _record_types, frozenset({"naptr"})),
            "dns_smp_flavour": self.get("SDK_DNS_SMP_FLAVOUR", _choice("oasis1", "peppol", "oasis2"), "oasis1"),
            "dns_transfer_allow": self.get("SDK_DNS_TRANSFER_ALLOW", _networks, LOOPBACK_NETWORKS),
            "dns_ttl": self.get("SDK_DNS_TTL", _integer(0, 2_147_483_647), 60),
            "dnssec": self.get("SDK_DNSSEC", _boolean, False),
            "dnssec_key": self.get("SDK_DNSSEC_KEY", self._existing_file, None),
            "dnssec_validity_days": self.get("SDK_DNSSEC_VALIDITY_DAYS", _integer(2, 365), 14),
            "http_listen": http_listen,
            "http_workers": self.get("SDK_HTTP_WORKERS", _integer(1, 64), 1),
            "http_threads": self.get("SDK_HTTP_THREADS", _integer(1, 256), 8),
            "http_timeout": self.get("SDK_HTTP_TIMEOUT", _integer(1, 3600), 30),
            "http_graceful_timeout": self.get("SDK_HTTP_GRACEFUL_TIMEOUT", _integer(0, 3600), 20),
            "serve_dns": self.get("SDK_SERVE_DNS", _boolean, True),
            "worker_health_listen": self.get("SDK_WORKER_HEALTH_LISTEN", _host_port, None),
            "signing_key": self.get("SDK_SIGNING_KEY", self._existing_file, None),
            "signing_cert": self.get("SDK_SIGNING_CERT", self._existing_file, None),
            "signing_key_password": self.raw("SDK_SIGNING_KEY_PASSWORD"),
            "trust_ap_ca": self.get("SDK_TRUST_AP_CA", self._existing_file, None),
            "trust_smp_ca": self.get("SDK_TRUST_SMP_CA", self._existing_file, None),
            "trust_o2o_ca": self.get("SDK_TRUST_O2O_CA", self._existing_file, None),
            "trust_crls": self.get("SDK_TRUST_CRLS", self._crl_file, None),
            "transport_profiles": self.get("SDK_TRANSPORT_PROFILES", _transport_profiles, DEFAULT_TRANSPORT_PROFILES),
            "document_types": self.get("SDK_DOCUMENT_TYPES", _document_types, DEFAULT_DOCUMENT_TYPES),
            "participant_icds": self.get("SDK_PARTICIPANT_ICDS", _icds, frozenset({"0203"})),
            "case_sensitive_document_schemes": self.get(
                "SDK_CASE_SENSITIVE_DOCUMENT_SCHEMES", _schemes, identifiers.CASE_SENSITIVE_DOCUMENT_SCHEMES
            ),
            "case_sensitive_process_schemes": self.get(
                "SDK_CASE_SENSITIVE_PROCESS_SCHEMES", _schemes, identifiers.CASE_SENSITIVE_PROCESS_SCHEMES
            ),
            "cert_warn_days": self.get("SDK_CERT_WARN_DAYS", _integer(1, 3650), 30),
            "publish_processes": self.get("SDK_PUBLISH_PROCESSES", _integer(0, 256), 0),
            "directory_rate_limit": self.get("SDK_DIRECTORY_RATE_LIMIT", _integer(0, 1_000_000), 600),
            "directory_inline_import_rows": self.get("SDK_DIRECTORY_INLINE_IMPORT_ROWS", _integer(0, 1_000_000), 5000),
            "redis_url": self.get("SDK_REDIS_URL", _redis_url, None),
            "redis_key_prefix": self.get("SDK_REDIS_KEY_PREFIX", _key_prefix, "sdk-addressbook"),
            "proxy_hops": self.get("SDK_PROXY_HOPS", _integer(0, 10), 0),
            "max_request_bytes": self.get("SDK_MAX_REQUEST_BYTES", _integer(1024, 1 << 30), 1_048_576),
            "max_import_bytes": self.get("SDK_MAX_IMPORT_BYTES", _integer(1024, 1 << 34), 134_217_728),
            "secret_key": self.get("SDK_SECRET_KEY", _secret, None),
            "login_lockout_attempts": self.get("SDK_LOGIN_LOCKOUT_ATTEMPTS", _integer(1, 100), 5),
            "login_lockout_minutes": self.get("SDK_LOGIN_LOCKOUT_MINUTES", _integer(1, 10_080), 15),
            "oidc_issuer": self.get("SDK_OIDC_ISSUER", _issuer, None),
            "oidc_client_id": self.raw("SDK_OIDC_CLIENT_ID"),
            "oidc_client_secret": self.raw("SDK_OIDC_CLIENT_SECRET"),
            "oidc_username_claim": self.get("SDK_OIDC_USERNAME_CLAIM", _claim, "email"),
            "oidc_scopes": self.get("SDK_OIDC_SCOPES", _scopes, "openid email profile"),
            "oidc_name": self.raw("SDK_OIDC_NAME") or "OpenID Connect",
            "log_level": self.get("SDK_LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True), "INFO"),
            "audit_checkpoint_file": self.get("SDK_AUDIT_CHECKPOINT_FILE", self._path_or_none, checkpoint),
            "audit_checkpoint_interval": self.get("SDK_AUDIT_CHECKPOINT_INTERVAL", _seconds(1, 86_400), 300.0),
            "sml_smp_id": self.get("SDK_SML_SMP_ID", _smp_id, "sdk-addressbook"),
            "sml_client_cert_header": self.get("SDK_SML_CLIENT_CERT_HEADER", _header_name, "Client-Cert"),
            "sml_trusted_proxies": self.get("SDK_SML_TRUSTED_PROXIES", _networks, LOOPBACK_NETWORKS),
            "sml_hosts": self.get("SDK_SML_HOSTS", _host_names, NO_HOSTS),
            "sml_smp_self_registration": self.get("SDK_SML_SMP_SELF_REGISTRATION", _boolean, False),
            "sml_migration_key_days": self.get("SDK_SML_MIGRATION_KEY_DAYS", _integer(1, 365), 7),
            "sml_list_max": self.get("SDK_SML_LIST_MAX", _integer(1, 1_000_000), 10_000),
            "sml_max_request_bytes": self.get("SDK_SML_MAX_REQUEST_BYTES", _integer(1024, 1 << 30), 4 * 1_048_576),
            "sml_url": self.get("SDK_SML_URL", _sml_url, None),
            "sml_client_cert": self.get("SDK_SML_CLIENT_CERT", self._existing_file, None),
            "sml_client_key": self.get("SDK_SML_CLIENT_KEY", self._existing_file, None),
            "sml_ca": self.get("SDK_SML_CA", self._existing_file, None),
            "sml_timeout": self.get("SDK_SML_TIMEOUT", _seconds(1, 600), 30.0),
            "client_dnssec_anchor": self.get("SDK_CLIENT_DNSSEC_ANCHOR", self._existing_file, None),
            "client_revocation": self.get("SDK_CLIENT_REVOCATION", _choice("off", "soft", "hard"), "soft"),
        }
        self._check_combinations(values)
        settings = Settings(**values)
        # the federation's document types in the canonical form of the configured case policy
        policy = settings.identifier_policy
        document_types = tuple(
            dict.fromkeys(str(identifiers.DocumentTypeId.parse(d, policy)) for d in settings.document_types)
        )
        return dataclasses.replace(settings, document_types=document_types)

    def _check_combinations(self, values: dict[str, Any]) -> None:
        # NAPTR: "!^.*$!" + address + "!" is one character-string (255 bytes). The address is the base URL or
        # the base and a flavour's URL prefix (app/publishing/flavours.py); the longest, "/bdxr-smp-2", is
        # reserved whichever SDK_DNS_SMP_FLAVOUR is chosen, so changing it never breaks the records.
        if len((values["public_url"] + values["smp_path"] + "/bdxr-smp-2").encode()) > 255 - len("!^.*$!!"):
            raise SettingsError(
                "SDK_PUBLIC_URL", "with SDK_SMP_PATH is too long for a NAPTR record (at most 237 bytes)"
            )
        if (values["signing_key"] is None) != (values["signing_cert"] is None):
            missing = "SDK_SIGNING_CERT" if values["signing_cert"] is None else "SDK_SIGNING_KEY"
            raise SettingsError(missing, "SDK_SIGNING_KEY and SDK_SIGNING_CERT must be set together")
        if values["dns_mode"] == "rfc2136":
            for name in ("SDK_DNS_PRIMARY", "SDK_DNS_TSIG_KEY_NAME", "SDK_DNS_TSIG_SECRET"):
                if self.raw(name) is None:
                    raise SettingsError(name, "is required when SDK_DNS_MODE=rfc2136")
        if values["dnssec"] and values["dns_mode"] != "embedded":
            raise SettingsError(
                "SDK_DNSSEC", "signs the embedded server's zone; with rfc2136 the primary signs it (see docs/dns.md)"
            )
        if values["mode"] == "production" and values["secret_key"] is None:
            raise SettingsError("SDK_SECRET_KEY", "production mode needs a secret key for the console's sessions")
        if values["oidc_issuer"] is not None:
            for name in ("SDK_OIDC_CLIENT_ID", "SDK_OIDC_CLIENT_SECRET"):
                if not self.raw(name):
                    raise SettingsError(name, "is required when SDK_OIDC_ISSUER is set")
            if values["mode"] == "production" and not values["oidc_issuer"].startswith("https://"):
                raise SettingsError("SDK_OIDC_ISSUER", "production mode needs an https:// issuer")
        if (values["sml_client_cert"] is None) != (values["sml_client_key"] is None):
            missing = "SDK_SML_CLIENT_KEY" if values["sml_client_key"] is None else "SDK_SML_CLIENT_CERT"
            raise SettingsError(missing, "SDK_SML_CLIENT_CERT and SDK_SML_CLIENT_KEY must be set together")
        if values["sml_url"] is not None and values["sml_client_cert"] is None:
            raise SettingsError(
                "SDK_SML_CLIENT_CERT", "is required when SDK_SML_URL is set (the SML knows an SMP by it)"
            )
        if values["mode"] == "production" and values["database_url"].startswith("sqlite"):
            raise SettingsError("SDK_DATABASE_URL", "production mode needs PostgreSQL (postgresql+psycopg://…)")

    def _path(self, name: str, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else (self.cwd / path)

    def _path_or_none(self, name: str, value: str) -> Path | None:
        return None if value.strip().lower() == "none" else self._path(name, value)

    def _existing_file(self, name: str, value: str) -> Path:
        path = self._path(name, value)
        if not path.is_file():
            raise SettingsError(name, f"no such file: {path}")
        return path

    def _crl_file(self, name: str, value: str) -> Path:
        from app.trust.certificates import CertificateError, load_crl_bundle

        path = self._existing_file(name, value)
        try:
            load_crl_bundle(path.read_bytes())
        except CertificateError as error:
            raise SettingsError(name, f"{path}: {error}") from None
        return path


#: Settings of earlier versions, and what took their place.
_REPLACED = {
    "SDK_CASE_SENSITIVE_DOCUMENT_IDS": "SDK_CASE_SENSITIVE_DOCUMENT_SCHEMES and SDK_CASE_SENSITIVE_PROCESS_SCHEMES "
    "(true: the defaults; false: none)",
}
_KNOWN = {
    "SDK_ENV_FILE",
    "SDK_INSTANCE_DIR",
    "SDK_DATABASE_URL",
    "SDK_MODE",
    "SDK_PUBLIC_URL",
    "SDK_SMP_PATH",
    "SDK_SMP_CACHE_MAX_AGE",
    "SDK_SMP_MEMORY_CACHE_SECONDS",
    "SDK_SMP_MEMORY_CACHE_MB",
    "SDK_SML_ZONE",
    "SDK_DNS_MODE",
    "SDK_DNS_LISTEN",
    "SDK_DNS_PRIMARY",
    "SDK_DNS_TSIG_KEY_NAME",
    "SDK_DNS_TSIG_SECRET",
    "SDK_DNS_TSIG_ALGORITHM",
    "SDK_DNS_RECORD_TYPES",
    "SDK_DNS_SMP_FLAVOUR",
    "SDK_DNS_TRANSFER_ALLOW",
    "SDK_DNS_TTL",
    "SDK_DNSSEC",
    "SDK_DNSSEC_KEY",
    "SDK_DNSSEC_VALIDITY_DAYS",
    "SDK_HTTP_LISTEN",
    "SDK_HTTP_WORKERS",
    "SDK_HTTP_THREADS",
    "SDK_HTTP_TIMEOUT",
    "SDK_HTTP_GRACEFUL_TIMEOUT",
    "SDK_SERVE_DNS",
    "SDK_WORKER_HEALTH_LISTEN",
    "SDK_AUDIT_CHECKPOINT_FILE",
    "SDK_AUDIT_CHECKPOINT_INTERVAL",
    "SDK_SIGNING_KEY",
    "SDK_SIGNING_CERT",
    "SDK_SIGNING_KEY_PASSWORD",
    "SDK_TRUST_AP_CA",
    "SDK_TRUST_SMP_CA",
    "SDK_TRUST_O2O_CA",
    "SDK_TRUST_CRLS",
    "SDK_TRANSPORT_PROFILES",
    "SDK_DOCUMENT_TYPES",
    "SDK_PARTICIPANT_ICDS",
    "SDK_CASE_SENSITIVE_DOCUMENT_SCHEMES",
    "SDK_CASE_SENSITIVE_PROCESS_SCHEMES",
    "SDK_CERT_WARN_DAYS",
    "SDK_PUBLISH_PROCESSES",
    "SDK_DIRECTORY_RATE_LIMIT",
    "SDK_DIRECTORY_INLINE_IMPORT_ROWS",
    "SDK_REDIS_URL",
    "SDK_REDIS_KEY_PREFIX",
    "SDK_PROXY_HOPS",
    "SDK_MAX_REQUEST_BYTES",
    "SDK_MAX_IMPORT_BYTES",
    "SDK_SECRET_KEY",
    "SDK_LOGIN_LOCKOUT_ATTEMPTS",
    "SDK_LOGIN_LOCKOUT_MINUTES",
    "SDK_OIDC_ISSUER",
    "SDK_OIDC_CLIENT_ID",
    "SDK_OIDC_CLIENT_SECRET",
    "SDK_OIDC_USERNAME_CLAIM",
    "SDK_OIDC_SCOPES",
    "SDK_OIDC_NAME",
    "SDK_LOG_LEVEL",
    "SDK_SML_SMP_ID",
    "SDK_SML_CLIENT_CERT_HEADER",
    "SDK_SML_TRUSTED_PROXIES",
    "SDK_SML_HOSTS",
    "SDK_SML_SMP_SELF_REGISTRATION",
    "SDK_SML_MIGRATION_KEY_DAYS",
    "SDK_SML_LIST_MAX",
    "SDK_SML_MAX_REQUEST_BYTES",
    "SDK_SML_URL",
    "SDK_SML_CLIENT_CERT",
    "SDK_SML_CLIENT_KEY",
    "SDK_SML_CA",
    "SDK_SML_TIMEOUT",
    "SDK_CLIENT_DNSSEC_ANCHOR",
    "SDK_CLIENT_REVOCATION",
}


def _choice(*allowed: str, upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, value: str) -> str:
        candidate = value.upper() if upper else value.lower()
        if candidate not in allowed:
            raise SettingsError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
        return candidate

    return parse


def _secret(name: str, value: str) -> str:
    if len(value) < 32:
        raise SettingsError(name, "must be at least 32 characters (e.g. from: openssl rand -hex 32)")
    return value


def _base_url(what: str, example: str) -> Callable[[str, str], str]:
    """An absolute http(s) URL with no query or fragment (``what``, e.g. ``example``), without its last ``/``."""

    def parse(name: str, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise SettingsError(name, f"must be {what}, such as {example}, got {value!r}")
        return value.rstrip("/")

    return parse


_issuer = _base_url("the issuer's URL", "https://login.example.se/realms/sdk")
_sml_url = _base_url("the SML's management URL", "https://sml.example.se/edelivery-sml")


def _claim(name: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", value):
        raise SettingsError(name, f"must be a claim name such as email or preferred_username, got {value!r}")
    return value


def _scopes(name: str, value: str) -> str:
    scopes = value.split()
    if "openid" not in scopes or not all(re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", s) for s in scopes):
        raise SettingsError(name, f"must be space-separated scopes including openid, got {value!r}")
    return " ".join(scopes)


def _integer(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, value: str) -> int:
        try:
            number = int(value, 10)
        except ValueError:
            raise SettingsError(name, f"must be a whole number from {low} to {high}, got {value!r}") from None
        if not low <= number <= high:
            raise SettingsError(name, f"must be a whole number from {low} to {high}, got {value!r}")
        return number

    return parse


def _seconds(low: float, high: float) -> Callable[[str, str], float]:
    def parse(name: str, value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(name, f"must be a number of seconds from {low:g} to {high:g}, got {value!r}") from None
        if not low <= number <= high or number != number:
            raise SettingsError(name, f"must be a number of seconds from {low:g} to {high:g}, got {value!r}")
        return number

    return parse


def _boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, f"must be true or false, got {value!r}")


def _host_port(name: str, value: str) -> HostPort:
    match = re.fullmatch(r"\[(?P<v6>[0-9A-Fa-f:.]+)\]:(?P<port>\d+)|(?P<host>[A-Za-z0-9.\-]+):(?P<port2>\d+)", value)
    if not match:
        raise SettingsError(name, f"must be HOST:PORT (IPv6 as [ADDR]:PORT), got {value!r}")
    host = match.group("v6") or match.group("host")
    port = int(match.group("port") or match.group("port2"))
    if not 0 < port < 65536:
        raise SettingsError(name, f"port must be from 1 to 65535, got {port}")
    return HostPort(host, port)


def _database_url(name: str, value: str) -> str:
    if value.startswith("sqlite:///") or value == "sqlite://":
        return value
    if value.startswith(("postgresql+psycopg://", "postgresql://", "postgres://")):
        _scheme, _, rest = value.partition("://")
        return "postgresql+psycopg://" + rest
    raise SettingsError(name, "must be sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB")


def _public_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(name, f"must be an absolute http(s) URL such as https://smp.example.se, got {value!r}")
    if parts.query or parts.fragment or any(c in value for c in '!"\\') or any(c.isspace() for c in value):
        # It is written into a quoted NAPTR regexp ("!^.*$!URL!"): these would break the record.
        raise SettingsError(name, "must not contain a query, a fragment, '!', '\"', '\\' or white space")
    return value.rstrip("/")


def _smp_id(name: str, value: str) -> str:
    try:
        return identifiers.validate_smp_id(value)
    except identifiers.IdentifierError as error:
        raise SettingsError(name, str(error)) from None


def _header_name(name: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-]{0,63}", value):
        raise SettingsError(name, f"must be an HTTP header name such as Client-Cert, got {value!r}")
    return value


def _host_names(name: str, value: str) -> tuple[str, ...]:
    hosts = []
    for host in _comma_list(value):
        try:
            hosts.append(identifiers.validate_domain_name(host.lower(), min_labels=1))
        except identifiers.IdentifierError as error:
            raise SettingsError(name, f"must be host names such as sml.example.se: {error}") from None
    return tuple(hosts)


def _url_path(name: str, value: str) -> str:
    if not re.fullmatch(r"/?([A-Za-z0-9._~\-]+/?)*", value):
        raise SettingsError(name, f"must be a URL path such as /smp, got {value!r}")
    path = "/" + value.strip("/")
    return "" if path == "/" else path


def _zone(name: str, value: str) -> str:
    zone = value.rstrip(".").lower()
    try:
        identifiers.validate_domain_name(zone, min_labels=1)
    except identifiers.IdentifierError as error:
        raise SettingsError(name, f"must be a DNS name: {error}") from None
    return zone


def _base64(name: str, value: str) -> str:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(name, "must be base64 (as written by tsig-keygen)") from None
    if len(decoded) < 16:
        raise SettingsError(name, "is too short: use at least 128 bits (tsig-keygen makes 256)")
    return value


def _record_types(name: str, value: str) -> frozenset[str]:
    wanted = {part.strip().lower() for part in value.split(",") if part.strip()}
    if wanted == {"all"}:
        return frozenset({"naptr", "cname"})
    if not wanted or not wanted <= {"naptr", "cname"}:
        raise SettingsError(name, f"must be naptr, cname, naptr,cname or all, got {value!r}")
    return frozenset(wanted)


def _networks(name: str, value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if value.strip().lower() == "none":
        return ()
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in _comma_list(value))
    except ValueError as error:
        raise SettingsError(
            name, f"must be addresses or networks (10.0.0.0/8, 2001:db8::/32), or none: {error}"
        ) from None


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _transport_profiles(name: str, value: str) -> tuple[str, ...]:
    profiles = _comma_list(value)
    for profile in profiles:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,254}", profile):
            raise SettingsError(name, f"{profile!r} is not a transport profile identifier")
    if not profiles:
        raise SettingsError(name, "must name at least one transport profile")
    return tuple(dict.fromkeys(profiles))


def _document_types(name: str, value: str) -> tuple[str, ...]:
    # Document identifiers contain commas nowhere in practice, but may contain almost anything else;
    # they are separated by white space or newlines here.
    items = [part for part in re.split(r"[\s,]+", value) if part]
    parsed = []
    for item in items:
        try:
            parsed.append(str(identifiers.DocumentTypeId.parse(item)))
        except identifiers.IdentifierError as error:
            raise SettingsError(name, f"{item!r}: {error}") from None
    if not parsed:
        raise SettingsError(name, "must name at least one document type")
    return tuple(dict.fromkeys(parsed))


def _redis_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "redis+unix") or not (parts.hostname or parts.path):
        raise SettingsError(name, f"must be a Redis URL such as redis://127.0.0.1:6379/0, got {value!r}")
    return value


def _key_prefix(name: str, value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9:._\-]{0,63}", value):
        raise SettingsError(name, "must be 1 to 64 letters, digits and : . _ -")
    return value


def _schemes(name: str, value: str) -> frozenset[str]:
    """Identifier schemes (compared in lower case), ``*`` for every scheme, ``none`` for no scheme."""
    if value.strip().lower() == "none":
        return frozenset()
    schemes = set()
    for part in _comma_list(value):
        scheme = part.lower()
        if scheme != identifiers.EVERY_SCHEME:
            try:
                identifiers.check_scheme("identifier", scheme)
            except identifiers.IdentifierError as error:
                raise SettingsError(name, str(error)) from None
        schemes.add(scheme)
    if not schemes:
        raise SettingsError(name, "must name identifier schemes, * (every scheme) or none")
    return frozenset(schemes)


def _icds(name: str, value: str) -> frozenset[str]:
    icds = set(_comma_list(value))
    for icd in icds:
        if not re.fullmatch(r"\d{4}", icd):
            raise SettingsError(name, f"{icd!r} is not a four-digit ICD code")
    if not icds:
        raise SettingsError(name, "must allow at least one ICD, such as 0203")
    return frozenset(icds)
