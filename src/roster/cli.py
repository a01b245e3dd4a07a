"""The ``roster`` command: the server and its data. Commands call the same services as the API."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.domain.errors import RosterError
from roster.settings import base_url_for, get_settings

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


def sessions() -> sessionmaker[Session]:
    """Sessions for one command; their transactions take SQLite's write lock up front."""
    engine = make_engine(get_settings().resolved_database_url)
    return make_sessionmaker(writer(engine))


def fail(exc: RosterError) -> typer.Exit:
    console.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
    return typer.Exit(code=1)


@contextmanager
def database_errors() -> Iterator[None]:
    """A database that cannot be reached, a URL that names no database, or a schema that was never
    created ends the command with one line saying so, not a traceback."""
    try:
        yield
    except sa_exc.ArgumentError as exc:  # includes an unknown dialect
        console.print(f"[red]error[/red] (database_url_invalid): ROSTER_DATABASE_URL is not usable: {exc}")
        raise typer.Exit(code=1) from None
    except sa_exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if isinstance(exc, sa_exc.OperationalError | sa_exc.ProgrammingError) and _no_schema(reason):
            console.print(
                "[red]error[/red] (database_not_ready): the database has no Roster tables yet; "
                "run `roster db upgrade` first."
            )
        else:
            console.print(f"[red]error[/red] (database_unavailable): {reason}")
        raise typer.Exit(code=1) from None


def _no_schema(reason: str) -> bool:
    reason = reason.lower()
    return "no such table" in reason or ("relation" in reason and "does not exist" in reason)


@db_app.command("upgrade")
@database_errors()
def db_upgrade() -> None:
    """Create or migrate the database named by ROSTER_DATABASE_URL."""
    from roster.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    console.print("[green]database is up to date[/green]")


@org_app.command("create")
@database_errors()
def org_create(
    slug: Annotated[str, typer.Option(help="Short name used to sign in, e.g. acme.")],
    name: Annotated[str, typer.Option(help="The organization's display name.")],
    admin_email: Annotated[str, typer.Option(help="The first administrator's email address.")],
    admin_password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="Asked for when left out.")
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


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Serve the web application and the API."""
    import uvicorn

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Mailed links name this server unless ROSTER_BASE_URL says otherwise (also for worker processes).
    os.environ["ROSTER_BASE_URL"] = base_url_for(settings, host, port)
    get_settings.cache_clear()
    uvicorn.run("roster.asgi:app", host=host, port=port, workers=workers, log_level="warning")


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
    base = base_url_for(settings, host, port)
    with transaction(sessions()) as session:
        # The demo's pending invitation is mailed with a link to where the server will listen.
        created = create_demo(
            session, password=password, settings=settings.model_copy(update={"base_url": base})
        )
    if created:
        console.print("[green]demo organization created[/green]")
    console.print(
        f"\nSign in at [bold]{base}/login[/bold]\n"
        f"  organization: [bold]{DEMO_SLUG}[/bold]\n  email:        [bold]{DEMO_ADMIN_EMAIL}[/bold]\n"
        f"  password:     [bold]{password}[/bold]\n"
        f"API: curl -s {base}/api/v1/auth/login -H 'content-type: application/json' "
        f'-d \'{{"organization":"{DEMO_SLUG}","email":"{DEMO_ADMIN_EMAIL}","password":"{password}"}}\'\n'
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
            console.print(f"[red]error[/red] (not_found): no organization {org!r}")
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
    """Deliver the mail that is due, once (the server does this every few seconds)."""
    from roster.mail.delivery import deliver_due_mail

    delivered = deliver_due_mail(sessions(), get_settings())
    console.print(f"delivered {delivered} message(s)")


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
    # The bar only when there is something to show it for (the count is taken before the loop).
    with Progress(console=console, disable=not due) as progress:
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
