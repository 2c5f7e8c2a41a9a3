"""A real BIND ``named`` on a loopback port with a TSIG key, for the RFC 2136 tests (no mocks)."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.conftest import require_program

KEY_NAME = "sdk-update"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        udp.bind(("127.0.0.1", port))
        return port


@dataclass
class Named:
    directory: Path
    zone: str
    port: int
    secret: str
    process: subprocess.Popen | None = None
    #: A secondary: the primary's port (it transfers the zone from there, signed with the TSIG key).
    primary_port: int | None = None
    #: A primary with secondaries: their ports, sent NOTIFY on every change.
    notify_ports: tuple[int, ...] = ()
    #: A primary that signs the zone itself (``dnssec-policy default`` with inline signing): updates go to
    #: the unsigned zone, named serves and transfers the signed one.
    signed: bool = False

    @property
    def environ(self) -> dict[str, str]:
        return {
            "SDK_DNS_MODE": "rfc2136",
            "SDK_DNS_PRIMARY": f"127.0.0.1:{self.port}",
            "SDK_DNS_TSIG_KEY_NAME": KEY_NAME,
            "SDK_DNS_TSIG_SECRET": self.secret,
            "SDK_SML_ZONE": self.zone,
        }

    def write_config(self) -> Path:
        directory = self.directory
        (directory / "named.conf").write_text(
            f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};\n'
            "options {\n"
            f'  directory "{directory}";\n  pid-file "{directory}/named.pid";\n'
            f'  session-keyfile "{directory}/session.key";\n  managed-keys-directory "{directory}";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n"
            "  recursion no;\n  dnssec-validation no;\n"
            f"  {self._notify()}\n"
            f'  allow-transfer {{ key "{KEY_NAME}"; }};\n'
            "};\ncontrols { };\n"
            f"{self._zone_clause()}",
            encoding="utf-8",
        )
        zone_file = directory / "zone.db"
        if not zone_file.exists() and self.primary_port is None:
            zone_file.write_text(
                f"$TTL 60\n@ IN SOA ns1.{self.zone}. hostmaster.{self.zone}. ( 1 3600 600 86400 60 )\n"
                f"  IN NS ns1.{self.zone}.\nns1 IN A 127.0.0.1\nother IN A 127.0.0.2\n",
                encoding="utf-8",
            )
        return directory / "named.conf"

    def _notify(self) -> str:
        if not self.notify_ports:
            return "notify no;"
        targets = " ".join(f"127.0.0.1 port {port};" for port in self.notify_ports)
        return f"notify explicit; also-notify {{ {targets} }}; notify-delay 0;"

    def _zone_clause(self) -> str:
        if self.primary_port is None:
            signing = ""
            if self.signed:
                (self.directory / "keys").mkdir(exist_ok=True)
                signing = f'  dnssec-policy default; inline-signing yes; key-directory "{self.directory}/keys";\n'
            return (
                f'zone "{self.zone}" {{ type primary; file "{self.directory}/zone.db";\n'
                f'  allow-update {{ key "{KEY_NAME}"; }};\n{signing}}};\n'
            )
        return (
            f'zone "{self.zone}" {{ type secondary; file "{self.directory}/secondary.db";\n'
            f'  primaries port {self.primary_port} {{ 127.0.0.1 key "{KEY_NAME}"; }};\n'
            "  allow-notify { 127.0.0.1; }; };\n"
        )

    def start(self) -> None:
        named = require_program("named")
        config = self.write_config()
        log = open(self.directory / "named.log", "ab")  # noqa: SIM115  (kept for the process' lifetime)
        self.process = subprocess.Popen([named, "-g", "-c", str(config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                query = dns.message.make_query(self.zone, "SOA")
                if dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.5).rcode() == dns.rcode.NOERROR:
                    return
            except OSError:
                pass
            except dns.exception.Timeout:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("named exited: " + (self.directory / "named.log").read_text()[-1500:])
            time.sleep(0.1)
        raise RuntimeError("named did not answer: " + (self.directory / "named.log").read_text()[-1500:])

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def query(self, name: str, rdtype: str = "NAPTR") -> dns.message.Message:
        return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=self.port, timeout=3)


def start_named(directory: Path, zone: str, *, notify_ports: tuple[int, ...] = (), signed: bool = False) -> Named:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o777)  # noqa: S103  (named may switch users; the folder is a throw-away test folder)
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    named = Named(directory, zone, free_port(), secret, notify_ports=notify_ports, signed=signed)
    named.start()
    return named


def start_secondary(directory: Path, primary: Named, port: int) -> Named:
    """A secondary of ``primary`` on ``port`` (give the primary that port in ``notify_ports``)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o777)  # noqa: S103  (as above)
    secondary = Named(directory, primary.zone, port, primary.secret, primary_port=primary.port)
    secondary.start()
    return secondary


def answers_soa(port: int, zone: str) -> bool:
    """Whether a DNS server on 127.0.0.1:``port`` answers the zone's SOA yet."""
    try:
        return bool(dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=port, timeout=1).answer)
    except (OSError, dns.exception.Timeout):
        return False
