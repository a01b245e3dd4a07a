"""Dismiss and rehire: tokens die at once, seats move, refusals change nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import AuthToken
from roster.domain import errors
from roster.domain.users import Role
from roster.lifecycle.invitations import invite_user
from roster.lifecycle.seats import get_seat_ledger
from roster.lifecycle.users import dismiss_user, provision_user, rehire_user
from tests.factories import PASSWORD, auth, make_org, make_user
from tests.lifecycle_helpers import actions, events

API = "/api/v1"


def _seated(db: Session, org_id, **kwargs):  # type: ignore[no-untyped-def]
    """A user who took a seat the real way (provisioned)."""
    n = db.scalar(select(func.count()).select_from(AuthToken)) or 0
    return provision_user(
        db,
        org_id,
        actor=None,
        email=kwargs.pop("email", f"p{n}-{id(kwargs)}@example.test"),
        first_name=kwargs.pop("first_name", "Pat"),
        last_name=kwargs.pop("last_name", "Person"),
        via="test",
        **kwargs,
    )


def test_dismissing_kills_every_token_at_once_and_frees_the_seat(db: Session, client: TestClient) -> None:
    o = make_org(db)
    erin = _seated(db, o.org.id, email="erin@example.test")
    erin_headers = auth(db, erin)
    accounts.issue_token(db, erin, kind="pat", name="script")
    assert client.get(f"{API}/me", headers=erin_headers).status_code == 200
    assert get_seat_ledger(db, o.org.id).used == 2

    response = client.post(
        f"{API}/users/{erin.id}/dismiss", json={"reason": "left the company"}, headers=auth(db, o.admin)
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dismissed" and response.json()["dismissed_at"]
    assert client.get(f"{API}/me", headers=erin_headers).status_code == 401
    tokens = db.scalar(select(func.count()).select_from(AuthToken).where(AuthToken.user_id == erin.id))
    assert tokens == 0
    login = client.post(
        f"{API}/auth/login",
        json={"organization": o.org.slug, "email": "erin@example.test", "password": PASSWORD},
    )
    assert login.status_code == 401
    assert get_seat_ledger(db, o.org.id).used == 1
    [event] = events(db, o.org.id, "user.dismissed")
    assert event.actor_id == o.admin.id and event.subject_id == erin.id
    assert event.details["reason"] == "left the company" and event.details["tokens_revoked"] == 2


def test_dismissing_twice_is_a_no_op(db: Session) -> None:
    o = make_org(db)
    erin = _seated(db, o.org.id)
    dismiss_user(db, erin, actor=o.admin)
    dismiss_user(db, erin, actor=o.admin)
    assert get_seat_ledger(db, o.org.id).used == 1
    assert actions(db, o.org.id).count("user.dismissed") == 1


def test_dismissing_yourself_is_refused(db: Session, client: TestClient) -> None:
    o = make_org(db)
    make_user(db, o.org, role=Role.ADMIN)
    response = client.post(f"{API}/users/{o.admin.id}/dismiss", headers=auth(db, o.admin))
    assert response.status_code == 409 and response.json()["code"] == "cannot_act_on_self"
    db.refresh(o.admin)
    assert o.admin.status == "active"


def test_dismissing_the_last_admin_is_refused(db: Session) -> None:
    o = make_org(db)
    other = make_user(db, o.org, role=Role.ADMIN)
    dismiss_user(db, other, actor=o.admin)  # fine: o.admin remains
    # With no actor (an identity provider), the last admin is protected too.
    try:
        dismiss_user(db, o.admin, actor=None)
    except errors.LastAdmin:
        pass
    else:
        raise AssertionError("the last admin was dismissed")
    db.refresh(o.admin)
    assert o.admin.status == "active"
    assert actions(db, o.org.id) == ["user.dismissed"]


def test_the_system_user_cannot_be_dismissed_or_rehired(db: Session, client: TestClient) -> None:
    o = make_org(db)
    system = accounts.get_system_user(db, o.org.id)
    headers = auth(db, o.admin)
    for verb in ("dismiss", "rehire"):
        response = client.post(f"{API}/users/{system.id}/{verb}", headers=headers)
        assert response.status_code == 409 and response.json()["code"] == "system_user_immutable"
    assert actions(db, o.org.id) == []


def test_a_deleted_user_can_be_neither_dismissed_nor_rehired(db: Session, client: TestClient) -> None:
    o = make_org(db)
    gone = make_user(db, o.org)
    gone.status, gone.email_key = "deleted", None
    db.flush()
    headers = auth(db, o.admin)
    for verb in ("dismiss", "rehire"):
        response = client.post(f"{API}/users/{gone.id}/{verb}", headers=headers)
        assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_rehire_restores_the_same_credentials_and_takes_a_seat(db: Session, client: TestClient) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, email="erin@example.test")
    headers = auth(db, o.admin)
    client.post(f"{API}/users/{erin.id}/dismiss", headers=headers)
    used = get_seat_ledger(db, o.org.id).used
    response = client.post(f"{API}/users/{erin.id}/rehire", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert response.json()["dismissed_at"] is None
    assert get_seat_ledger(db, o.org.id).used == used + 1
    login = client.post(
        f"{API}/auth/login",
        json={"organization": o.org.slug, "email": "erin@example.test", "password": PASSWORD},
    )
    assert login.status_code == 200
    assert actions(db, o.org.id) == ["user.dismissed", "user.rehired"]
    # Rehiring an active user is a no-op.
    assert client.post(f"{API}/users/{erin.id}/rehire", headers=headers).status_code == 200
    assert actions(db, o.org.id) == ["user.dismissed", "user.rehired"]


def test_rehire_is_refused_when_the_plan_is_full(db: Session, client: TestClient) -> None:
    o = make_org(db)  # free: 12
    former = make_user(db, o.org, dismissed=True)
    for i in range(11):
        invite_user(db, o.org.id, actor=o.admin, email=f"seat{i}@example.test")
    response = client.post(f"{API}/users/{former.id}/rehire", headers=auth(db, o.admin))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "seat_limit_reached"
    assert (body["plan"], body["limit"], body["used"], body["active"], body["pending_invitations"]) == (
        "free",
        12,
        12,
        1,
        11,
    )
    assert "revoke a pending invitation" in body["detail"] and "upgrade the plan" in body["detail"]
    db.refresh(former)
    assert former.status == "dismissed"
    assert "user.rehired" not in actions(db, o.org.id)


def test_another_organizations_user_cannot_be_dismissed(db: Session, client: TestClient) -> None:
    mine, theirs = make_org(db), make_org(db)
    victim = make_user(db, theirs.org)
    response = client.post(f"{API}/users/{victim.id}/dismiss", headers=auth(db, mine.admin))
    assert response.status_code == 404
    db.refresh(victim)
    assert victim.status == "active"


def test_provisioning_creates_an_active_user_with_a_seat_and_a_system_event(db: Session) -> None:
    o = make_org(db)
    user = provision_user(
        db,
        o.org.id,
        actor=None,
        email="Idp.User@Example.test",
        first_name="Idp",
        last_name="User",
        details={"token_id": "tok-1"},
    )
    assert user.status == "active" and user.password_hash is None and user.display_name == "Idp User"
    assert get_seat_ledger(db, o.org.id).used == 2
    [event] = events(db, o.org.id, "user.provisioned")
    assert event.actor_id is None and event.details["via"] == "scim" and event.details["token_id"] == "tok-1"


def test_a_provisioned_user_is_the_row_written_with_its_search_keys(db: Session) -> None:
    """The row is written with one Core INSERT, not an ORM flush: the User given back must hold
    every column exactly as stored, search keys included, and stay an ordinary persistent User."""
    from sqlalchemy import inspect

    from roster.accounts.models import User
    from roster.directory.keys import search_key_values

    o = make_org(db)
    user = provision_user(
        db,
        o.org.id,
        actor=None,
        email="Ö.Zoë@Example.test",
        first_name=" Zoë ",
        last_name="Östlund",
        position="Engineer",
        profile={"external_id": "ext-9", "employee_number": "E-9"},
    )
    columns = User.__mapper__.columns.keys()
    given = {name: getattr(user, name) for name in columns}
    assert inspect(user).persistent and not inspect(user).expired_attributes
    db.expire(user)
    assert {name: getattr(user, name) for name in columns} == given
    assert given["first_name"] == "Zoë" and given["email"] == "Ö.Zoë@example.test"
    assert given["created_at"] is not None and given["is_system"] is False and given["photo_version"] is None
    keys = search_key_values(
        first_name="Zoë", last_name="Östlund", display_name=user.display_name, email=user.email
    )
    assert {name: given[name] for name in keys} == keys and keys["first_name_key"]
    user.position = "Lead"  # changed and flushed as any User
    db.flush()
    db.expire(user)
    assert user.position == "Lead"


def test_provisioning_fulfils_a_pending_invitation_without_a_second_seat(db: Session) -> None:
    o = make_org(db)
    invitation, _ = invite_user(db, o.org.id, actor=o.admin, email="both@example.test")
    user = provision_user(
        db, o.org.id, actor=None, email="both@example.test", first_name="B", last_name="Oth"
    )
    db.refresh(invitation)
    assert invitation.status == "accepted" and invitation.accepted_user_id == user.id
    ledger = get_seat_ledger(db, o.org.id)
    assert (ledger.used, ledger.active, ledger.pending_invitations) == (2, 2, 0)


def test_provisioning_a_dismissed_users_address_is_refused(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, email="former@example.test", dismissed=True)
    try:
        provision_user(db, o.org.id, actor=None, email="former@example.test", first_name="F", last_name="X")
    except errors.EmailBelongsToDismissedUser as exc:
        assert exc.extra["user_id"]
    else:
        raise AssertionError("provisioned over a dismissed user")


def test_rehire_by_the_system_records_no_actor(db: Session) -> None:
    o = make_org(db)
    erin = _seated(db, o.org.id)
    dismiss_user(db, erin, actor=None, reason="idp")
    rehire_user(db, erin, actor=None, details={"via": "scim", "token_id": "t"})
    [event] = events(db, o.org.id, "user.rehired")
    assert event.actor_id is None and event.actor_display == "System" and event.details["via"] == "scim"


def _race(url: str, jobs: list) -> list[str]:  # type: ignore[type-arg]
    """Run each job(session) at once in its own thread, engine and transaction; their outcomes."""
    import threading

    from roster.db.engine import make_engine, make_sessionmaker, transaction, writer

    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(jobs))

    def run(job) -> None:  # type: ignore[no-untyped-def]
        engine = make_engine(url)
        try:
            factory = make_sessionmaker(writer(engine))
            barrier.wait(timeout=30)
            try:
                with transaction(factory) as session:
                    job(session)
                result = "ok"
            except errors.RosterError as exc:
                result = exc.code
            except Exception as exc:
                result = f"error: {type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(result)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_two_admins_dismissing_each_other_at_once_leave_one_admin(databases) -> None:  # type: ignore[no-untyped-def]
    from roster.accounts.models import User
    from roster.db.engine import make_engine, make_sessionmaker, transaction, writer

    url = databases.new_database()
    engine = make_engine(url)
    factory = make_sessionmaker(writer(engine))
    with transaction(factory) as session:
        o = make_org(session)
        other = make_user(session, o.org, role=Role.ADMIN)
        org_id, a_id, b_id = o.org.id, o.admin.id, other.id

    def dismiss(actor_id, target_id):  # type: ignore[no-untyped-def]
        def job(session) -> None:  # type: ignore[no-untyped-def]
            actor = session.get(User, (org_id, actor_id))
            target = session.get(User, (org_id, target_id))
            dismiss_user(session, target, actor=actor)

        return job

    outcomes = _race(url, [dismiss(a_id, b_id), dismiss(b_id, a_id)])
    assert sorted(outcomes) == ["last_admin", "ok"], outcomes
    with factory() as session:
        active_admins = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.org_id == org_id, User.role == "admin", User.status == "active")
        )
        assert active_admins == 1
    engine.dispose()


def test_one_invitation_accepted_at_once_by_many_makes_one_user(databases, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from roster.accounts.models import User
    from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
    from roster.lifecycle.invitations import accept_invitation
    from tests.conftest import make_settings

    url = databases.new_database()
    engine = make_engine(url)
    factory = make_sessionmaker(writer(engine))
    settings = make_settings(tmp_path)
    with transaction(factory) as session:
        o = make_org(session)
        _, link = invite_user(session, o.org.id, actor=o.admin, email="race@example.test", settings=settings)
        org_id = o.org.id
    token = link.rsplit("/", 1)[1]

    def accept(session) -> None:  # type: ignore[no-untyped-def]
        accept_invitation(session, token=token, password=PASSWORD, settings=settings)

    outcomes = _race(url, [accept] * 6)
    assert sorted(outcomes) == ["invitation_not_found"] * 5 + ["ok"], outcomes
    with factory() as session:
        users = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.org_id == org_id, User.email == "race@example.test")
        )
        assert users == 1
        assert get_seat_ledger(session, org_id).used == 2
    engine.dispose()
