"""Concurrency through real HTTP: many clients at once against a real server process, lined up on a
barrier so their requests arrive together. After each race the database is read directly and must
hold a state the domain allows: seats never over the plan, the counter equal to the rows, one
deletion per person, no visible mention of a deleted person.

Runs on SQLite and on PostgreSQL (set ROSTER_TEST_DATABASE_URL).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.db.engine import make_engine, make_sessionmaker, transaction
from roster.domain.plans import seat_limit
from roster.domain.users import Role
from roster.lifecycle.audit import verify_chain
from roster.lifecycle.deletion_models import Authorship, LifecycleOperation
from roster.lifecycle.models import AuditEvent, Invitation
from roster.stream.models import Post, PostMention
from roster.stream.service import create_post
from roster.tasks.models import Task
from roster.tasks.service import create_task
from tests.dbutil import DatabaseFactory
from tests.factories import make_org, make_user, token_for
from tests.liveserver import LiveServer

SLOW = os.environ.get("ROSTER_SLOW_TESTS") == "1"
ROUNDS = 10 if SLOW else 3


@dataclass
class Live:
    engine: Engine
    server: LiveServer

    def session(self) -> Session:
        return Session(self.engine)

    def setup(self, build: Callable[[Session], Any]) -> Any:
        """Run ``build`` in a committed transaction and return what it returns."""
        with transaction(make_sessionmaker(self.engine)) as session:
            return build(session)


@pytest.fixture(scope="module")
def live(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url = databases.new_database()
    engine = make_engine(url)
    server = LiveServer(url, tmp_path_factory.mktemp("races-var"), ROSTER_BACKGROUND_WORKERS="0").start()
    yield Live(engine=engine, server=server)
    server.stop()
    engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def race(calls: list[Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
    """Run every call on its own thread and client, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        with httpx.Client(timeout=120) as client:
            try:
                barrier.wait(timeout=60)
                answers[index] = calls[index](client)
            except BaseException as exc:  # reported below, with the others' answers
                answers[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    failures = [a for a in answers if not isinstance(a, httpx.Response)]
    assert not failures, f"requests failed without an answer: {failures}"
    return [a for a in answers if isinstance(a, httpx.Response)]


def post_json(url: str, body: dict[str, Any], token: str) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.post(url, json=body, headers=bearer(token))


def codes(answers: list[httpx.Response]) -> Counter[tuple[int, str]]:
    found: Counter[tuple[int, str]] = Counter()
    for answer in answers:
        code = ""
        if answer.status_code >= 400 and answer.headers.get("content-type", "").endswith("json"):
            code = str(answer.json().get("code", ""))
        found[(answer.status_code, code)] += 1
    return found


def seats_agree_with_rows(session: Session, org_id: uuid.UUID) -> tuple[int, int]:
    """(seats used per the counter, seats held per the rows); the caller asserts they are equal."""
    org = session.get(Organization, org_id)
    assert org is not None
    session.refresh(org)
    active = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.org_id == org_id, User.status == "active", User.is_system.is_(False))
    )
    pending = session.scalar(
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.org_id == org_id, Invitation.status == "pending")
    )
    return org.seats_used, int(active or 0) + int(pending or 0)


def audit_chain_verifies(session: Session, org_id: uuid.UUID) -> None:
    result = verify_chain(session, org_id)
    assert result.ok, result.problems


# --- Invitations at the seat boundary ------------------------------------------------------------


def test_concurrent_invitations_at_the_seat_boundary_never_exceed_the_plan(live: Live) -> None:
    def build(db: Session) -> tuple[uuid.UUID, list[str]]:
        o = make_org(db, plan="free")
        second = make_user(db, o.org, role=Role.ADMIN, first_name="Bea")
        o.org.seats_used += 1  # written directly: counted the way an accepted invitation would be
        db.flush()
        return o.org.id, [token_for(db, o.admin), token_for(db, second)]

    org_id, tokens = live.setup(build)
    limit = seat_limit("free")
    assert limit is not None
    with live.session() as session:
        used_before, rows_before = seats_agree_with_rows(session, org_id)
    assert used_before == rows_before
    room = limit - used_before
    clients = room + 8  # more clients than seats left
    run = uuid.uuid4().hex[:6]

    def invite(n: int) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.post(
            live.server.url + "/api/v1/invitations",
            json={"email": f"seat-{run}-{n}@race.test"},
            headers=bearer(tokens[n % len(tokens)]),
        )

    answers = race([invite(n) for n in range(clients)])
    outcome = codes(answers)
    assert set(outcome) <= {(201, ""), (409, "seat_limit_reached")}, outcome
    assert outcome[(201, "")] == room, outcome
    with live.session() as session:
        used, rows = seats_agree_with_rows(session, org_id)
        assert used == rows == limit
        stored = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.org_id == org_id, Invitation.email.like(f"seat-{run}-%"))
        )
        assert stored == room
        invited_events = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.org_id == org_id, AuditEvent.action == "user.invited")
        )
        assert invited_events == room
        audit_chain_verifies(session, org_id)


def test_concurrent_bulk_invitations_at_the_seat_boundary_never_exceed_the_plan(live: Live) -> None:
    def build(db: Session) -> tuple[uuid.UUID, str]:
        o = make_org(db, plan="free")
        return o.org.id, token_for(db, o.admin)

    org_id, token = live.setup(build)
    run = uuid.uuid4().hex[:6]

    def bulk(n: int) -> Callable[[httpx.Client], httpx.Response]:
        emails = [f"bulk-{run}-{n}-{k}@race.test" for k in range(5)]
        return lambda c: c.post(
            live.server.url + "/api/v1/invitations/bulk", json={"emails": emails}, headers=bearer(token)
        )

    answers = race([bulk(n) for n in range(6)])
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    created = sum(len(a.json()["created"]) for a in answers)
    failed = [f["code"] for a in answers for f in a.json()["failed"]]
    assert set(failed) <= {"seat_limit_reached"}, failed
    limit = seat_limit("free")
    with live.session() as session:
        used, rows = seats_agree_with_rows(session, org_id)
        assert used == rows == limit
        stored = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.org_id == org_id, Invitation.email.like(f"bulk-{run}-%"))
        )
        assert stored == created == (limit or 0) - 1


# --- Dismiss and rehire of one person ------------------------------------------------------------


def test_dismiss_and_rehire_racing_leave_one_state_with_seats_and_audit_that_agree(live: Live) -> None:
    def build(db: Session) -> tuple[uuid.UUID, list[str], uuid.UUID]:
        o = make_org(db, plan="free")
        second = make_user(db, o.org, role=Role.ADMIN, first_name="Bea")
        person = make_user(db, o.org, first_name="Pat")
        # Written directly, so count them into the counter the way an accepted invitation would.
        o.org.seats_used += 2
        db.flush()
        return o.org.id, [token_for(db, o.admin), token_for(db, second)], person.id

    org_id, tokens, person_id = live.setup(build)
    base = f"{live.server.url}/api/v1/users/{person_id}"
    for round_ in range(ROUNDS * 2):
        calls = [
            post_json(f"{base}/{'dismiss' if n % 2 == 0 else 'rehire'}", {}, tokens[(n + round_) % 2])
            for n in range(4)
        ]
        answers = race(calls)
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
        with live.session() as session:
            person = session.get(User, (org_id, person_id))
            assert person is not None
            assert person.status in ("active", "dismissed")
            used, rows = seats_agree_with_rows(session, org_id)
            assert used == rows, (used, rows)
            events = session.scalars(
                select(AuditEvent.action)
                .where(
                    AuditEvent.org_id == org_id,
                    AuditEvent.subject_id == person_id,
                    AuditEvent.action.in_(["user.dismissed", "user.rehired"]),
                )
                .order_by(AuditEvent.seq)
            ).all()
            # Every recorded transition really happened: they alternate, starting from active.
            for index, action in enumerate(events):
                assert action == ("user.dismissed" if index % 2 == 0 else "user.rehired"), events
            last = events[-1] if events else None
            expected = "dismissed" if last == "user.dismissed" else "active"
            assert person.status == expected, (person.status, events)
            # A dismissed person's tokens are revoked; the answers agree with the final state.
            assert any(a.json()["status"] == person.status for a in answers)
    with live.session() as session:
        audit_chain_verifies(session, org_id)


# --- Two admins deleting the same person ---------------------------------------------------------


def _busy_person(db: Session, o: Any, name: str) -> User:
    person = make_user(db, o.org, first_name=name)
    o.org.seats_used += 1
    for n in range(5):
        create_post(db, actor=person, body=f"Post {n} by {name}")
    create_post(db, actor=o.admin, body=f"Thanks {name}", mentions=[person.id])
    create_task(db, actor=o.admin, title=f"Task for {name}", responsible_id=person.id)
    db.flush()
    return person


def test_two_admins_deleting_one_person_at_once_delete_exactly_once(live: Live) -> None:
    def build(db: Session) -> tuple[uuid.UUID, list[str], list[tuple[uuid.UUID, str]]]:
        o = make_org(db, plan="enterprise")
        admins = [o.admin] + [make_user(db, o.org, role=Role.ADMIN, first_name=f"Adm{n}") for n in range(2)]
        o.org.seats_used += 2
        people = [_busy_person(db, o, f"Del{n}") for n in range(ROUNDS)]
        return o.org.id, [token_for(db, a) for a in admins], [(p.id, str(p.email)) for p in people]

    org_id, tokens, people = live.setup(build)
    for person_id, email in people:
        with live.session() as session:
            before = session.scalar(
                select(func.count()).select_from(PostMention).where(PostMention.user_id == person_id)
            )
        url = f"{live.server.url}/api/v1/users/{person_id}/delete"
        answers = race([post_json(url, {"confirm": email}, token) for token in tokens])
        outcome = codes(answers)
        assert outcome[(200, "")] == 1, outcome
        refused = {key for key in outcome if key[0] != 200}
        assert refused <= {(409, "invalid_transition"), (404, "not_found")}, outcome
        with live.session() as session:
            person = session.get(User, (org_id, person_id))
            assert person is not None and person.status == "deleted"
            ops = session.scalars(
                select(LifecycleOperation).where(
                    LifecycleOperation.org_id == org_id, LifecycleOperation.user_id == person_id
                )
            ).all()
            assert len(ops) == 1, [op.kind for op in ops]
            map_rows = session.execute(
                select(Authorship.kind, Authorship.operation_id).where(
                    Authorship.org_id == org_id, Authorship.original_user_id == person_id
                )
            ).all()
            assert {op_id for _, op_id in map_rows} == {ops[0].id}
            mapped = Counter(kind for kind, _ in map_rows)
            assert mapped["stream.post.author"] == 5, mapped
            assert mapped["tasks.task.responsible"] == 1, mapped
            assert mapped["stream.post.mention"] + _hidden_mentions(session, person_id) == before
            deleted_events = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.org_id == org_id,
                    AuditEvent.subject_id == person_id,
                    AuditEvent.action == "user.deleted",
                )
            )
            assert deleted_events == 1
            used, rows = seats_agree_with_rows(session, org_id)
            assert used == rows
    with live.session() as session:
        audit_chain_verifies(session, org_id)


def _hidden_mentions(session: Session, user_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(PostMention)
            .where(PostMention.user_id == user_id, PostMention.hidden_by.is_not(None))
        )
        or 0
    )


# --- A delete racing with new posts that mention the person --------------------------------------


@dataclass
class Outcomes:
    posts: list[uuid.UUID] = field(default_factory=list)
    tasks: list[uuid.UUID] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, answer: httpx.Response, made: list[uuid.UUID]) -> None:
        with self.lock:
            if answer.status_code == 201:
                made.append(uuid.UUID(answer.json()["id"]))
            else:
                self.refused.append(f"{answer.status_code} {answer.json().get('code')}")


def keep_naming(
    live: Live, token: str, person_id: uuid.UUID, seen: Outcomes, n: int
) -> Callable[[httpx.Client], httpx.Response]:
    """A colleague who keeps posting about the person and handing them tasks."""

    def run(client: httpx.Client) -> httpx.Response:
        answer = None
        for k in range(4):
            answer = client.post(
                f"{live.server.url}/api/v1/posts",
                json={"body": f"Ask {n}.{k} about it", "mentions": [str(person_id)]},
                headers=bearer(token),
            )
            seen.note(answer, seen.posts)
            answer = client.post(
                f"{live.server.url}/api/v1/tasks",
                json={"title": f"Follow up {n}.{k}", "responsible_id": str(person_id)},
                headers=bearer(token),
            )
            seen.note(answer, seen.tasks)
        assert answer is not None
        return answer

    return run


def nothing_names_the_deleted_person(
    session: Session, org_id: uuid.UUID, person_id: uuid.UUID, system_id: uuid.UUID, seen: Outcomes
) -> None:
    def map_rows(kind: str) -> set[uuid.UUID]:
        return set(
            session.scalars(
                select(Authorship.object_id).where(
                    Authorship.org_id == org_id,
                    Authorship.kind == kind,
                    Authorship.original_user_id == person_id,
                    Authorship.restored_at.is_(None),
                )
            ).all()
        )

    # Every post answered 201 is stored and visible, with its one mention row (nothing lost).
    stored = session.scalar(
        select(func.count())
        .select_from(Post)
        .where(Post.org_id == org_id, Post.id.in_(seen.posts), Post.hidden_by.is_(None))
    )
    assert stored == len(seen.posts)
    mentions = session.execute(
        select(PostMention.id, PostMention.user_id, PostMention.hidden_by).where(
            PostMention.org_id == org_id, PostMention.post_id.in_(seen.posts)
        )
    ).all()
    assert len(mentions) == len(seen.posts)
    moved = map_rows("stream.post.mention")
    for row_id, user_id, hidden_by in mentions:
        if user_id == person_id:
            assert hidden_by is not None, "a visible mention of a deleted person"
        else:
            assert user_id == system_id and row_id in moved, "a moved mention without its map row"
    # Tasks handed to the person while they were deleted went to the System User with the rest.
    tasks = session.execute(
        select(Task.id, Task.responsible_id, Task.hidden_by).where(
            Task.org_id == org_id, Task.id.in_(seen.tasks)
        )
    ).all()
    assert len(tasks) == len(seen.tasks)
    moved = map_rows("tasks.task.responsible")
    for task_id, responsible_id, hidden_by in tasks:
        if responsible_id == person_id:
            assert hidden_by is not None, "a visible task of a deleted person"
        else:
            assert responsible_id == system_id and task_id in moved, "a moved task without its map row"
    # And across the organization: no visible mention row names a deleted person.
    visible_deleted = session.scalar(
        select(func.count())
        .select_from(PostMention)
        .join(User, (User.org_id == PostMention.org_id) & (User.id == PostMention.user_id))
        .where(PostMention.org_id == org_id, PostMention.hidden_by.is_(None), User.status == "deleted")
    )
    assert visible_deleted == 0


def test_a_delete_racing_with_new_mentions_and_tasks_never_leaves_a_deleted_person_named(live: Live) -> None:
    posters = 6

    def build(db: Session) -> tuple[uuid.UUID, str, list[str], list[tuple[uuid.UUID, str]], uuid.UUID]:
        o = make_org(db, plan="enterprise")
        colleagues = [make_user(db, o.org, first_name=f"Col{n}") for n in range(posters)]
        people = [_busy_person(db, o, f"Men{n}") for n in range(ROUNDS)]
        system = accounts.get_system_user(db, o.org.id)
        return (
            o.org.id,
            token_for(db, o.admin),
            [token_for(db, c) for c in colleagues],
            [(p.id, str(p.email)) for p in people],
            system.id,
        )

    org_id, admin_token, poster_tokens, people, system_id = live.setup(build)
    totals: Counter[str] = Counter()
    for person_id, email in people:
        seen = Outcomes()
        delete = post_json(
            f"{live.server.url}/api/v1/users/{person_id}/delete", {"confirm": email}, admin_token
        )
        naming = [keep_naming(live, token, person_id, seen, n) for n, token in enumerate(poster_tokens)]
        answers = race([delete, *naming])
        assert answers[0].status_code == 200, answers[0].text
        # Refused only because the person is no longer active: never a 5xx, never another reason.
        assert set(seen.refused) <= {"422 inactive_user"}, seen.refused
        assert len(seen.posts) + len(seen.tasks) + len(seen.refused) == posters * 4 * 2
        totals.update(accepted=len(seen.posts) + len(seen.tasks), refused=len(seen.refused))
        with live.session() as session:
            nothing_names_the_deleted_person(session, org_id, person_id, system_id, seen)
    with live.session() as session:
        audit_chain_verifies(session, org_id)
    assert totals["accepted"] + totals["refused"] == len(people) * posters * 8


@pytest.mark.postgres_only
def test_a_lifecycle_action_in_progress_holds_up_only_references_to_its_person(live: Live) -> None:
    # What a long deletion holds between its locks and its commit: the organization's row (the
    # lifecycle lock) and the person's row. Everyone else keeps posting and mentioning each other;
    # a new mention of the person being deleted waits for the outcome.
    def build(db: Session) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
        o = make_org(db, plan="enterprise")
        author, colleague, leaving = (make_user(db, o.org, first_name=n) for n in ("Au", "Co", "Le"))
        return o.org.id, author.id, colleague.id, leaving.id

    org_id, author_id, colleague_id, leaving_id = live.setup(build)
    with live.session() as deletion:
        accounts.lock_organization(deletion, org_id)
        deletion.execute(
            select(User.id).where(User.org_id == org_id, User.id == leaving_id).with_for_update()
        )
        with live.session() as other:
            other.execute(text("SET LOCAL lock_timeout = '5s'"))
            author = other.get(User, (org_id, author_id))
            assert author is not None
            create_post(other, actor=author, body="Lunch?", mentions=[colleague_id])
            other.commit()
        with live.session() as naming:
            naming.execute(text("SET LOCAL lock_timeout = '300ms'"))
            author = naming.get(User, (org_id, author_id))
            assert author is not None
            with pytest.raises(OperationalError, match="lock timeout"):
                create_post(naming, actor=author, body="Bye!", mentions=[leaving_id])
        deletion.rollback()


def test_overlapping_bulk_deletions_and_a_single_one_delete_each_person_once(live: Live) -> None:
    """Two admins delete {A, B, C} and {B, C, D} in bulk while a third deletes C alone: every
    request is all or none, each person is deleted once (one operation, one event), and a bulk
    request answered 200 deleted all of its people."""

    def build(db: Session) -> tuple[uuid.UUID, list[str], list[list[uuid.UUID]]]:
        o = make_org(db, plan="enterprise")
        admins = [o.admin] + [make_user(db, o.org, role=Role.ADMIN, first_name=f"Bulk{n}") for n in range(2)]
        o.org.seats_used += 2
        rounds = [[_busy_person(db, o, f"R{r}P{n}").id for n in range(4)] for r in range(ROUNDS)]
        return o.org.id, [token_for(db, a) for a in admins], rounds

    org_id, tokens, rounds = live.setup(build)
    base = f"{live.server.url}/api/v1/users"
    for a, b, c, d in rounds:
        first, second = [a, b, c], [b, c, d]
        answers = race(
            [
                post_json(f"{base}/bulk/delete", {"user_ids": [str(p) for p in first], "confirm": "3"}, tokens[0]),
                post_json(f"{base}/bulk/delete", {"user_ids": [str(p) for p in second], "confirm": "3"}, tokens[1]),
                post_json(f"{base}/{c}/delete", {"confirm": _email_of(live, org_id, c)}, tokens[2]),
            ]
        )  # fmt: skip
        bulk_one, bulk_two, single = answers
        for answer in (bulk_one, bulk_two):
            assert answer.status_code in (200, 409), answer.text
            if answer.status_code == 409:
                assert answer.json()["code"] == "bulk_refused", answer.text
        assert single.status_code in (200, 409), single.text
        # B and C are in both bulk requests: at most one of them can have been done.
        assert (bulk_one.status_code, bulk_two.status_code) != (200, 200)
        with live.session() as session:
            status = {p: session.get(User, (org_id, p)).status for p in (a, b, c, d)}  # type: ignore[union-attr]
            assert (status[a] == "deleted") == (bulk_one.status_code == 200), status
            assert (status[d] == "deleted") == (bulk_two.status_code == 200), status
            assert status[c] == "deleted"  # the single deletion or a bulk one: C went either way
            for person in (a, b, c, d):
                ops = session.scalar(
                    select(func.count())
                    .select_from(LifecycleOperation)
                    .where(LifecycleOperation.org_id == org_id, LifecycleOperation.user_id == person)
                )
                events = session.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(
                        AuditEvent.org_id == org_id,
                        AuditEvent.subject_id == person,
                        AuditEvent.action == "user.deleted",
                    )
                )
                expected = 1 if status[person] == "deleted" else 0
                assert (ops, events) == (expected, expected), (person, ops, events)
            used, rows = seats_agree_with_rows(session, org_id)
            assert used == rows
    with live.session() as session:
        audit_chain_verifies(session, org_id)


def _email_of(live: Live, org_id: uuid.UUID, user_id: uuid.UUID) -> str:
    with live.session() as session:
        person = session.get(User, (org_id, user_id))
        assert person is not None
        return str(person.email)


def test_the_race_server_logged_no_errors(live: Live) -> None:
    log = live.server.log()
    assert "Traceback" not in log, log[-3000:]
    assert Path(live.server.log_path).exists()
