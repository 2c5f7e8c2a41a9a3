"""The development PKI's revocation lists: revoke a certificate it issued (to try revocation checks)."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.base import EXIT_BAD_SETTING, cli, fail, plain_settings


@cli.group(help="The development PKI that 'init' made (instance/pki).")
def pki() -> None:
    pass


@pki.command("revoke", help="Put a certificate the development PKI issued on its CA's CRL (ap-ca.crl, o2o-ca.crl, …).")
@click.argument("certificate_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def revoke_command(certificate_file: Path) -> None:
    from app.trust.certificates import CertificateError, load_certificate
    from app.trust.devpki import DevelopmentPki, revoke

    settings = plain_settings()
    try:
        certificate = load_certificate(certificate_file.read_bytes())
    except CertificateError as error:
        fail(f"{certificate_file}: {error}", EXIT_BAD_SETTING)
    development = DevelopmentPki(settings.pki_dir)
    for ca in development.cas:
        if not ca.certificate.is_file():
            continue
        try:
            path = revoke(ca, certificate)
        except ValueError:
            continue
        click.echo(f"revoked {certificate.subject.rfc4514_string()} (serial {certificate.serial_number:x}): {path}")
        return
    fail(f"{certificate_file}: not issued by a CA of the development PKI in {development.root}")
