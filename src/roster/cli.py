"""The ``roster`` command: the server and its data. Commands call the same services as the API."""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.db.migrate import DatabaseBehind, DatabaseNewer, check_revision, database_revision
from roster.domain.errors import RosterError
from roster.settings import (
    LOG_FORMAT,
    SecretKeyFileInvalid,
    Settings,
    base_url_for,
    base_url_is_set,
    get_settings,
    is_wildcard_host,
    settings_problems,
)

if TYPE_CHECKING:
    from rich.progress import Progress

app = typer.Typer(help="Roster: the people layer for company intranets.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
mail_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(mail_app, name="mail")
console = Console(soft_wrap=True)  # long lines (the curl example) stay copyable
# Errors and warnings: a script that captures a command's output (an id) never gets them instead.
error_console = Console(stderr=True, soft_wrap=True)
SUPPORTED_DATABASES = "sqlite:///path/to/roster.db or postgresql+psycopg://user@host/database"


def error(code: str, detail: str) -> None:
    error_console.print(f"[red]error[/red] ({code}): {escape(detail)}")


def warn(detail: str) -> None:
    error_console.print(f"[yellow]warning[/yellow]: {escape(detail)}")


@app.callback()
def check_settings() -> None:
    # Every command reads the settings: a mistake in them is one line naming the variable.
    try:
        get_settings()
    except ValidationError as exc:
        error("settings_invalid", settings_problems(exc))
        raise typer.Exit(code=1) from None


def database_url() -> str:
    """ROSTER_DATABASE_URL (or the default SQLite file), when Roster can use it: ArgumentError
    (reported by ``database_errors``) for another database or a driver that is not installed."""
    url = get_settings().resolved_database_url
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise sa_exc.ArgumentError(
            f"Roster runs on SQLite or PostgreSQL, not {backend}; use {SUPPORTED_DATABASES}"
        )
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError:
        raise sa_exc.ArgumentError(
            f"its driver ({parsed.get_driver_name()}) is not installed; use {SUPPORTED_DATABASES}"
        ) from None
    return url


def engine_for(url: str) -> Engine:
    try:
        return make_engine(url)  # creates the SQLite file's directory
    except OSError as exc:
        raise CannotCreateDatabase(f"cannot create the SQLite database's directory: {exc}") from None


class CannotCreateDatabase(Exception):
    pass


class NoDatabaseFile(Exception):
    pass


def sessions() -> sessionmaker[Session]:
    """Sessions for one command, on a database at this Roster's schema; their transactions take
    SQLite's write lock up front."""
    url = database_url()
    parsed = make_url(url)
    database = parsed.database
    is_file = parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
    if is_file and not parsed.query.get("uri") and not Path(str(database)).exists():
        # Opening it would leave an empty file behind, for a command that needs a schema.
        raise NoDatabaseFile(f"the database {database} does not exist; run `roster db upgrade` first.")
    engine = engine_for(url)
    with engine.connect() as connection:
        revision = database_revision(connection)
    check_revision(url, revision)
    return make_sessionmaker(writer(engine))


def fail(exc: RosterError) -> typer.Exit:
    error(exc.code, exc.detail)
    return typer.Exit(code=1)


@contextmanager
def database_errors() -> Iterator[None]:
    """A database that cannot be reached, a URL that names no database, or a schema that was never
    created ends the command with one line saying so, not a traceback."""
    try:
        yield
    except sa_exc.ArgumentError as exc:  # includes an unknown dialect
        error("database_url_invalid", f"ROSTER_DATABASE_URL is not usable: {exc}")
        raise typer.Exit(code=1) from None
    except DatabaseNewer as exc:
        error("database_newer", str(exc))
        raise typer.Exit(code=1) from None
    except DatabaseBehind as exc:
        error("database_not_ready", f"{exc}; run `roster db upgrade` first.")
        raise typer.Exit(code=1) from None
    except NoDatabaseFile as exc:
        error("database_not_ready", str(exc))
        raise typer.Exit(code=1) from None
    except CannotCreateDatabase as exc:
        error("database_unavailable", str(exc))
        raise typer.Exit(code=1) from None
    except sa_exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if isinstance(exc, sa_exc.OperationalError | sa_exc.ProgrammingError) and _no_schema(reason):
            error(
                "database_not_ready",
                "the database has no Roster tables yet; run `roster db upgrade` first.",
            )
        else:
            error("database_unavailable", _with_sqlite_path(reason))
        raise typer.Exit(code=1) from None


def _with_sqlite_path(reason: str) -> str:
    """SQLite's "unable to open database file" names no file: say which."""
    url = make_url(get_settings().resolved_database_url)
    if url.get_backend_name() == "sqlite" and "unable to open database file" in reason:
        return f"{reason}: {url.database}"
    return reason


def _no_schema(reason: str) -> bool:
    reason = reason.lower()
    return "no such table" in reason or ("relation" in reason and "does not exist" in reason)


@db_app.command("upgrade")
@database_errors()
def db_upgrade() -> None:
    """Create or migrate the database named by ROSTER_DATABASE_URL."""
    from roster.db.migrate import schema_differences, upgrade

    url = database_url()
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            revision = database_revision(connection)
    finally:
        engine.dispose()
    # A database migrated by a newer Roster (the code was rolled back) is left as it is.
    check_revision(url, revision, behind_is_fine=True)
    upgrade(url)
    differences = schema_differences(url)
    if differences:
        shown = ", ".join(differences[:5]) + (
            f" and {len(differences) - 5} more" if len(differences) > 5 else ""
        )
        error(
            "database_schema_differs",
            f"the database is at this Roster's newest revision but its schema is not this Roster's: {shown}. "
            "It was changed by hand or migrated by a development build; restore a backup, or repair it "
            "(`alembic check` lists every difference) before serving it.",
        )
        raise typer.Exit(code=1)
    console.print("[green]database is up to date[/green]")


def _progress_bar() -> Progress:
    """A bar on stderr while a backup or restore works, gone when it ends. Only on a terminal:
    elsewhere (a script, a pipe, a log) it would show nothing but leave an empty line, which
    would come before the command's error."""
    from rich.progress import Progress

    return Progress(console=error_console, transient=True, disable=not error_console.is_interactive)


def _backup_failed(exc: Exception) -> typer.Exit:
    from roster.backup import BackupError

    if isinstance(exc, BackupError):
        error(exc.code, exc.detail)
    else:
        error("backup_failed", str(exc))
    return typer.Exit(code=1)


@db_app.command("backup")
@database_errors()
def db_backup(
    output: Path = typer.Argument(
        ..., help="The backup file to write: a new .tar, or .tar.gz to compress it."
    ),
) -> None:
    """Back up a SQLite installation (database, files, secret key) into one file, while it runs."""
    import sqlite3

    from roster.backup import BackupError, create_backup, describe, sqlite_path

    settings = get_settings()
    url = database_url()
    try:
        database = sqlite_path(url)
        expected = database.stat().st_size if database.is_file() else 0
        if settings.files_dir.is_dir():
            expected += sum(p.stat().st_size for p in settings.files_dir.rglob("*") if p.is_file())
        with _progress_bar() as progress:
            task = progress.add_task("backing up", total=expected or None)
            manifest = create_backup(settings, url, output, progress=lambda n: progress.advance(task, n))
    except (BackupError, OSError) as exc:
        raise _backup_failed(exc) from None
    except sqlite3.DatabaseError as exc:
        no_schema = _no_schema(str(exc))
        error(
            "database_not_ready" if no_schema else "database_unavailable",
            "the database has no Roster tables." if no_schema else _with_sqlite_path(str(exc)),
        )
        raise typer.Exit(code=1) from None
    console.print(f"backup written: {output}")
    console.print(describe(manifest.as_json()))


@db_app.command("restore")
@database_errors()
def db_restore(
    backup: Path = typer.Argument(..., help="A file written by `roster db backup`."),
) -> None:
    """Restore a backup into a new installation (ROSTER_DATABASE_URL and ROSTER_DATA_DIR must not
    hold one yet); stop the server first. The database is then migrated to this Roster."""
    from roster.backup import BackupError, describe, read_manifest, restore_backup
    from roster.db.migrate import upgrade

    settings = get_settings()
    url = database_url()
    try:
        manifest = read_manifest(backup)
        # A backup of a newer Roster is refused before anything is unpacked.
        check_revision(url, manifest.get("revision"), behind_is_fine=True)
        with _progress_bar() as progress:
            total = int(manifest.get("database_bytes", 0)) + int(manifest.get("file_bytes", 0))
            task = progress.add_task("restoring", total=total or None)
            restore_backup(settings, url, backup, progress=lambda n: progress.advance(task, n))
    except (BackupError, OSError) as exc:
        raise _backup_failed(exc) from None
    upgrade(url)
    console.print(f"restored {backup} ({describe(manifest)})")
    console.print("the database is up to date; start Roster with the same settings")


@org_app.command("create")
@database_errors()
def org_create(
    slug: Annotated[str, typer.Option(help="Short name used to sign in, e.g. acme.")],
    name: Annotated[str, typer.Option(help="The organization's display name.")],
    admin_email: Annotated[str, typer.Option(help="The first administrator's email address.")],
    admin_password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for (twice) when left out."
        ),
    ],
    plan: Annotated[str, typer.Option(help="free, plus, standard, professional, enterprise")] = "free",
) -> None:
    """Create an organization with its System User and first admin."""
    from roster.accounts.service import create_organization
    from roster.lifecycle.audit import record_organization_created

    try:
        with transaction(sessions()) as session:
            org, admin = create_organization(
                session,
                slug=slug,
                name=name,
                plan=plan,
                admin_email=admin_email,
                admin_password=admin_password,
            )
            record_organization_created(session, org, admin)
            console.print(f"created organization [bold]{org.slug}[/bold] ({org.id}); admin {admin.email}")
    except RosterError as exc:
        raise fail(exc) from None


def links_base(settings: Settings, host: str, port: int) -> str:
    """Where mailed links point: ROSTER_BASE_URL, or where the server listens. A server listening
    on every address (0.0.0.0, ::) has no address of its own to put in a link: its links name the
    loopback address, which only works on this machine, so the operator is told to set the URL."""
    base = base_url_for(settings, host, port)
    if is_wildcard_host(host) and not base_url_is_set(settings):
        warn(
            f"listening on every address ({host}) and ROSTER_BASE_URL is not set: mailed links "
            f"(invitations, password resets) will name {base}, which opens only on this machine. "
            "Set ROSTER_BASE_URL to the address people use, e.g. https://intranet.example.com"
        )
    return base


@app.command()
@database_errors()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on; 0.0.0.0 for every one.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Addresses (comma-separated, or *) of the reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto headers are believed. Behind a reverse proxy, set it to the proxy's "
            "address, so that sign-in rate limits see each client's address rather than the "
            "proxy's one for everybody. Default: the FORWARDED_ALLOW_IPS environment variable, "
            "else 127.0.0.1.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the web application and the API."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    settings = get_settings()
    database_url()
    try:  # read (or made) here, so that a bad key file is one line before anything listens
        settings.resolved_secret_key  # noqa: B018
    except SecretKeyFileInvalid as exc:
        error("secret_key_invalid", str(exc))
        raise typer.Exit(code=1) from None
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    # Mailed links name this server unless ROSTER_BASE_URL says otherwise (also for worker processes).
    os.environ["ROSTER_BASE_URL"] = links_base(settings, host, port)
    get_settings.cache_clear()
    config = uvicorn.Config(
        "roster.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        forwarded_allow_ips=forwarded_allow_ips,  # None: uvicorn's own default
    )
    # Listening comes first: uvicorn would start the application (whose log says it started)
    # and only then find the port taken, and say so in a line of its own.
    try:
        sockets = listening_sockets(host, port, backlog=config.backlog)
    except OSError as exc:
        raise _cannot_listen(exc, host, port) from None
    server = uvicorn.Server(config)
    try:
        if workers > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    finally:
        for sock in sockets:
            sock.close()
    if workers == 1 and not server.started:
        raise typer.Exit(code=3)  # uvicorn's own code for a server that did not start


def listening_sockets(host: str, port: int, *, backlog: int) -> list[socket.socket]:
    """Sockets listening on ``host`` and ``port`` as uvicorn's one server process would listen
    (asyncio's ``create_server``: one per address the host stands for, an IPv6 one IPv6 only),
    for every server process to accept on; OSError when the address cannot be listened on."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    unavailable: OSError | None = None
    try:
        for family, kind, proto, _name, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL:
                    raise
                # As asyncio does: an address of a family this machine does not have ("localhost"
                # as ::1 without IPv6) is left out, as long as another one is listened on.
                sockets.pop().close()
                unavailable = exc
                continue
            sock.listen(backlog)  # now: until then, another server could take the port too
        if not sockets:
            raise unavailable or OSError(errno.EADDRNOTAVAIL, "no address to listen on")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _cannot_listen(exc: OSError, host: str, port: int) -> typer.Exit:
    where = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        error(
            "address_in_use",
            f"cannot listen on {where}: the address is already in use (another server is "
            "listening there); choose another port with --port",
        )
    else:
        error("address_unavailable", f"cannot listen on {where}: {exc.strerror or exc}")
    return typer.Exit(code=1)


@app.command()
@database_errors()
def demo(
    password: Annotated[str, typer.Option(help="Password of every demo account.")] = "demo-password-1",
    host: Annotated[
        str, typer.Option(help="Where `roster serve` will listen (for the sign-in hint).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Where `roster serve` will listen (for the sign-in hint).")
    ] = 8000,
) -> None:
    """Create the demo organization (slug "demo") with sample people and content, if it is missing."""
    from roster.demo import DEMO_ADMIN_EMAIL, DEMO_SLUG, create_demo

    settings = get_settings()
    base = links_base(settings, host, port)
    try:
        with transaction(sessions()) as session:
            # The demo's pending invitation is mailed with a link to where the server will listen.
            created = create_demo(
                session, password=password, settings=settings.model_copy(update={"base_url": base})
            )
    except RosterError as exc:
        raise fail(exc) from None
    if not created:
        # Its accounts keep the password they were created with, whatever was given this time.
        console.print(
            "demo organization exists; its passwords were not changed\n"
            f"\nSign in at [bold]{base}/login[/bold]\n"
            f"  organization: [bold]{DEMO_SLUG}[/bold]\n  email:        [bold]{DEMO_ADMIN_EMAIL}[/bold]\n"
            "  password:     the one the demo was created with\n"
        )
        return
    console.print("[green]demo organization created[/green]")
    console.print(
        f"\nSign in at [bold]{base}/login[/bold]\n"
        f"  organization: [bold]{DEMO_SLUG}[/bold]\n  email:        [bold]{DEMO_ADMIN_EMAIL}[/bold]\n"
        f"  password:     [bold]{escape(password)}[/bold]\n"
        f"API: curl -s {base}/api/v1/auth/login -H 'content-type: application/json' "
        f'-d \'{{"organization":"{DEMO_SLUG}","email":"{DEMO_ADMIN_EMAIL}","password":"{escape(password)}"}}\'\n'
    )


@audit_app.command("verify")
@database_errors()
def audit_verify(
    org: Annotated[str | None, typer.Option(help="Only this organization (slug); default: all.")] = None,
) -> None:
    """Check every organization's audit chain; exits 1 if any event was edited or removed."""
    from sqlalchemy import select

    from roster.accounts.models import Organization
    from roster.lifecycle.audit import verify_chain

    broken = False
    with transaction(sessions()) as session:
        query = select(Organization).order_by(Organization.slug)
        if org is not None:
            query = query.where(Organization.slug == org.strip().lower())
        orgs = session.scalars(query).all()
        if org is not None and not orgs:
            error("not_found", f"no organization {org!r}")
            raise typer.Exit(code=1)
        for organization in orgs:
            result = verify_chain(session, organization.id)
            if result.ok:
                console.print(
                    f"[green]ok[/green] {organization.slug}: {result.events} events"
                    f" ({result.redacted} redacted)"
                )
                continue
            broken = True
            console.print(f"[red]BROKEN[/red] {organization.slug}: {result.events} events")
            for problem in result.problems:
                console.print(f"  event {problem.get('seq')}: {problem['problem']} - {problem['detail']}")
    if broken:
        raise typer.Exit(code=1)


@mail_app.command("send")
@database_errors()
def mail_send() -> None:
    """Deliver the mail that is due, once (the server does this every few seconds); exits 1 if
    any failed. Without ROSTER_SMTP_HOST, each message is shown here instead."""
    from roster.mail.delivery import Claimed, send_due_mail

    def show(message: Claimed) -> None:
        console.print(
            f"[bold]mail to {escape(message.to_address)}[/bold] (ROSTER_SMTP_HOST is not set: shown here, not sent)"
        )
        console.print(f"Subject: {message.subject}\n\n{message.body_text}\n", markup=False, highlight=False)

    # The command reports every outcome itself; the log's own lines would repeat them on stderr.
    logging.getLogger("roster.mail").addHandler(logging.NullHandler())
    report = send_due_mail(sessions(), get_settings(), show=show)
    for failure in report.failed:
        error_console.print(
            f"mail to {failure.to_address} failed (attempt {failure.attempt}): {failure.error}", markup=False
        )
    if report.failed:
        error(
            "mail_failed",
            f"delivered {report.delivered}, failed {len(report.failed)}; failed mail is tried again later",
        )
        raise typer.Exit(code=1)
    console.print(f"delivered {report.delivered} message(s)")


@app.command()
@database_errors()
def purge() -> None:
    """Purge deleted users and trashed items whose restore window has passed (for good)."""
    from rich.progress import Progress

    from roster.lifecycle.deletion import count_purgeable, purge_expired
    from roster.trash.service import purge_expired_trash

    factory = sessions()
    with transaction(factory) as session:
        due = count_purgeable(session)
    purged = 0
    # The bar only when there is something to show it for (the count is taken before the loop), and
    # only on a terminal: in a script, a pipe or a log its last state would stay, and a blank line.
    with Progress(console=console, disable=not due or not console.is_interactive) as progress:
        task = progress.add_task("purging deleted users", total=due)
        while True:
            # One deletion per transaction: a long purge never holds locks for long.
            with transaction(factory) as session:
                done = purge_expired(session, limit=1)
            if not done:
                break
            purged += done
            progress.advance(task, done)
    with transaction(factory) as session:
        trashed = purge_expired_trash(session)
    console.print(f"purged {purged} deleted user(s) and {trashed} item(s) from the trash")


if __name__ == "__main__":
    app()
