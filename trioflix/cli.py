"""The ``trioflix`` command: ``serve``, ``user create NAME``, ``db migrate``, ``upload FILE``."""

from __future__ import annotations

import argparse
import getpass
import sys
from functools import partial
from typing import TYPE_CHECKING

import trio

from trioflix.config import OPTIONS, ConfigError, Settings
from trioflix.logs import configure_logging
from trioflix.version import describe

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

_STORAGE_FIELDS = ("data_dir", "database_url")


def _add_options(parser: argparse.ArgumentParser, fields: Sequence[str] | None = None) -> None:
    for option in OPTIONS:
        if fields is None or option.field in fields:
            shown = f"default: {option.default}" if option.default is not None else "default: unset"
            parser.add_argument(
                option.flag,
                dest=option.field,
                metavar=option.env,
                help=f"{option.help} (env {option.env}; {shown})",
            )


class _Version(argparse.Action):
    """``--version``: asks git for the commit only when given, not at every start."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"trioflix {describe()}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trioflix", description="Live streaming and video platform server on Trio."
    )
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="show the version (and commit) and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the server",
        description="Run the HTTP server and all services. Every flag can also be set by the "
        "environment variable shown; flags win. SIGINT or SIGTERM shuts down gracefully.",
    )
    _add_options(serve)

    user = commands.add_parser("user", help="manage accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create = user_commands.add_parser("create", help="create an account")
    create.add_argument("name", help="the account (and channel) name: 3-32 of a-z, 0-9, _")
    create.add_argument("--display-name", help="name shown on pages (default: NAME)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    _add_options(create, _STORAGE_FIELDS)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    migrate = db_commands.add_parser("migrate", help="apply pending schema migrations")
    _add_options(migrate, _STORAGE_FIELDS)

    upload = commands.add_parser(
        "upload",
        help="upload a video file to a server (resumable)",
        description="Upload FILE over tus, resuming an earlier interrupted upload of it, "
        "with a progress bar; prints the video's id and URLs.",
    )
    # Only the flags: the client itself (and tqdm) loads when the command runs.
    from trioflix.client.arguments import add_arguments

    add_arguments(upload)
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Repeat password: "):
        raise SystemExit("trioflix: the passwords differ")
    return password


async def _create_user(settings: Settings, name: str, password: str, display: str | None) -> None:
    from trioflix.auth.accounts import NameTaken, create_account
    from trioflix.store import open_database

    async with open_database(settings) as db:
        try:
            user = await create_account(db, name, password, display)
        except NameTaken:
            raise SystemExit(f"trioflix: the name {name!r} is taken") from None
        except ValueError as exc:
            raise SystemExit(f"trioflix: {exc}") from None
    print(f"created user {user.name} (id {user.id})")


async def _migrate(settings: Settings) -> None:
    from trioflix.store import migrate, open_database

    async with open_database(settings, apply_migrations=False) as db:
        applied = await migrate(db)
    print(f"applied migrations: {applied}" if applied else "the schema is up to date")


def _upload(args: argparse.Namespace) -> int:
    try:
        from trioflix.client.command import run
    except ModuleNotFoundError as exc:
        if exc.name != "tqdm":
            raise
        print(
            "trioflix upload: needs tqdm, which comes with the upload extra: "
            "pip install 'trioflix[upload]'",
            file=sys.stderr,
        )
        return 1
    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "upload":  # a client: no server settings, no logging set-up
        return _upload(args)
    overrides = {o.field: getattr(args, o.field, None) for o in OPTIONS}
    try:
        settings = Settings.from_env(overrides)
    except ConfigError as exc:
        print(f"trioflix: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    from trioflix.cluster.checks import ClusterConfigError
    from trioflix.cluster.errors import ClusterError
    from trioflix.storage import StorageProbeError
    from trioflix.store import StoreUnavailable

    try:
        if args.command == "serve":
            from trioflix.allocator import tune_malloc
            from trioflix.server import serve_app, tune_gc

            tune_gc()
            tune_malloc()
            trio.run(partial(serve_app, settings))
        elif args.command == "user":
            password = _read_password(args.password_stdin)
            trio.run(_create_user, settings, args.name, password, args.display_name)
        elif args.command == "db":
            trio.run(_migrate, settings)
    # A setting trioflix serve would not apply (trioflix.server), cluster settings
    # that would split the site (trioflix.cluster.site), or storage that cannot be
    # written, read back and emptied (trioflix.services).
    except (ConfigError, ClusterConfigError, StorageProbeError) as exc:
        print(f"trioflix: {exc}", file=sys.stderr)
        return 2
    except ClusterError as exc:  # Redis could not be asked who the other hosts are
        print(f"trioflix: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"trioflix: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
