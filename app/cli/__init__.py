"""The ``sdk-addressbook`` command (also available as ``flask --app app …``), a module per job."""

from __future__ import annotations

import sys

import click
from flask import Flask

from app.cli import audit, dnssec, lookup, people, pki, publication, service, sml  # noqa: F401  (their commands join the group)
from app.cli.base import EXIT_BAD_SETTING, cli, fail
from app.registry.errors import RegistryError
from app.settings import SettingsError

__all__ = ["cli", "main", "register"]


def register(app: Flask) -> None:
    """Make the same commands available under ``flask --app app``."""
    for command in cli.commands.values():
        app.cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="sdk-addressbook", standalone_mode=False)
    except SettingsError as error:
        fail(str(error), EXIT_BAD_SETTING)
    except RegistryError as error:
        fail(str(error))
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        fail("aborted")
    except FileExistsError as error:
        fail(str(error))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
