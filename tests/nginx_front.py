"""nginx in front of the service, as in production: the TLS-terminating proxy of the SML (mutual TLS, the
verified client certificate passed on in ``Client-Cert``, nginx's ``$ssl_client_escaped_cert``, as an
ingress does it) and the round-robin front of several replicas."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import require_program
from tests.named import free_port


@dataclass
class NginxFront:
    """One nginx on a free loopback port; subclasses say what its ``server`` block (and upstream) hold."""

    folder: Path
    port: int = field(default=0, kw_only=True)
    process: subprocess.Popen | None = field(default=None, kw_only=True)

    def http_block(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        nginx = require_program("nginx")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        prefix = self.folder
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
            "events { worker_connections 256; }\nhttp {\n"
            f"  access_log off;\n  client_body_temp_path {prefix}/tmp;\n  proxy_temp_path {prefix}/tmp;\n"
            f"  fastcgi_temp_path {prefix}/tmp;\n  uwsgi_temp_path {prefix}/tmp;\n  scgi_temp_path {prefix}/tmp;\n"
            "  client_max_body_size 16m;\n" + self.http_block() + "}\n",
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen: {(prefix / 'error.log').read_text()[-500:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class TlsFront(NginxFront):
    upstream_port: int
    certificate: Path
    key: Path
    client_ca: Path

    def http_block(self) -> str:
        return (
            f"  server {{\n    listen 127.0.0.1:{self.port} ssl;\n"
            f"    ssl_certificate {self.certificate};\n    ssl_certificate_key {self.key};\n"
            f"    ssl_client_certificate {self.client_ca};\n    ssl_verify_client on;\n    ssl_verify_depth 2;\n"
            "    location /sml/ {\n"
            f"      proxy_pass http://127.0.0.1:{self.upstream_port};\n"
            "      proxy_set_header Client-Cert $ssl_client_escaped_cert;\n"
            "      proxy_set_header Host $host;\n"
            "    }\n  }\n"
        )

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@dataclass
class RoundRobinFront(NginxFront):
    """Plain HTTP, every request to the next replica in turn (nginx's default balancing), the client's
    address in ``X-Forwarded-For``."""

    upstream_ports: tuple[int, ...]

    def http_block(self) -> str:
        servers = "".join(f"    server 127.0.0.1:{port};\n" for port in self.upstream_ports)
        return (
            f"  upstream replicas {{\n{servers}  }}\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n"
            "    location / {\n      proxy_pass http://replicas;\n"
            "      proxy_set_header Host $http_host;\n"
            "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "    }\n  }\n"
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"
