"""Random sequences of lifecycle actions, with the invariants checked after every step.

Hire, create content, dismiss, rehire, delete (random dispositions), restore, merge, transfer,
erase, and purge after the clock moves past the window. After every step: no reference is lost or
duplicated (rows only appear by creating content and only disappear when a purge destroys what a
deletion hid, with the rows that hang off them), no organization is over its seat limit and the
seat counter matches the people holding seats, deleted users are never listed by the directory,
and restore returns exactly what the deletion moved.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from roster import clock
from roster.accounts import service as accounts
from roster.accounts.models import Organization, User
from roster.app import create_app
from roster.db.base import Base
from roster.db.engine import make_sessionmaker
from roster.domain import errors
from roster.domain.plans import seat_limit
from roster.lifecycle import deletion
from roster.lifecycle.deletion import DispositionPlan
from roster.lifecycle.models import Invitation
from roster.lifecycle.seats import take_seat
from roster.lifecycle.users import dismiss_user, rehire_user
from roster.references import Disposition, content_references
from tests.conftest import make_settings
from tests.deletion_support import content_tables, references_to
from tests.factories import auth, make_org, make_user

CONTENT = ["post", "like", "task", "message", "comment"]


def _row_ids(db: Session) -> dict[str, set[tuple[Any, ...]]]:
    db.flush()
    result = {}
    for table in content_tables():
        if table.name == "users":
            continue
        pk = list(table.primary_key.columns)
        result[table.name] = {tuple(row) for row in db.execute(select(*pk)).all()}
    return result


def _hidden_ids(db: Session) -> dict[str, set[tuple[Any, ...]]]:
    db.flush()
    result: dict[str, set[tuple[Any, ...]]] = {}
    for table in content_tables():
        if "hidden_by" not in table.c or table.name == "users":
            continue
        pk = list(table.primary_key.columns)
        result[table.name] = {tuple(r) for r in db.execute(select(*pk).where(table.c.hidden_by.is_not(None)))}
    return result


def _rows_of(db: Session, user: User) -> dict[str, set[tuple[Any, ...]]]:
    """The primary keys of every content row that points at the user."""
    db.flush()
    result: dict[str, set[tuple[Any, ...]]] = {}
    for ref in content_references():
        table = Base.metadata.tables[ref.table]
        pk = list(table.primary_key.columns)
        rows = db.execute(select(*pk).where(table.c.org_id == user.org_id, table.c[ref.column] == user.id))
        result.setdefault(table.name, set()).update(tuple(r) for r in rows)
    return result


class LifecycleMachine(RuleBasedStateMachine):
    engine: Engine
    tmp_path: Any

    def __init__(self) -> None:
        super().__init__()
        clock.reset()
        self.connection = self.engine.connect()
        self.outer = self.connection.begin()
        self.db = make_sessionmaker(self.connection)()
        self.app = create_app(make_settings(self.tmp_path), bind=self.connection)
        self.client = TestClient(self.app, raise_server_exceptions=True)
        o = make_org(self.db, plan="free")
        self.org_id = o.org.id
        self.admin = o.admin
        self.admin_headers = auth(self.db, o.admin)
        self.users: list[uuid.UUID] = []
        self.rows = _row_ids(self.db)
        # For restore: what each deletion moved, and whether anything may have changed it since.
        self.before_delete: dict[uuid.UUID, dict[str, int]] = {}
        self.dirty: set[uuid.UUID] = set()

    def teardown(self) -> None:
        self.client.close()
        self.db.close()
        self.outer.rollback()
        self.connection.close()
        clock.reset()

    # ---- helpers

    def user(self, user_id: uuid.UUID) -> User:
        user = self.db.get(User, (self.org_id, user_id))
        assert user is not None
        return user

    def with_status(self, status: str) -> list[uuid.UUID]:
        return [u for u in self.users if self.user(u).status == status]

    def pick(self, data: st.DataObject, choices: list[uuid.UUID]) -> User:
        return self.user(data.draw(st.sampled_from(choices)))

    def expect_created(self) -> None:
        now = _row_ids(self.db)
        for table, ids in self.rows.items():
            assert ids <= now[table], f"{table}: rows vanished while creating content"
        self.rows = now

    # ---- rules

    @rule()
    def hire(self) -> None:
        try:
            take_seat(self.db, self.org_id)
        except errors.SeatLimitReached:
            return
        user = make_user(self.db, self.db.get(Organization, self.org_id))  # type: ignore[arg-type]
        self.users.append(user.id)

    @precondition(lambda self: len(self.with_status("active")) >= 1)
    @rule(data=st.data(), what=st.sampled_from(CONTENT))
    def create_content(self, data: st.DataObject, what: str) -> None:
        actives = self.with_status("active")
        author = self.pick(data, actives)
        other = self.pick(data, [*actives, self.admin.id] if len(actives) > 1 else [self.admin.id])
        headers = auth(self.db, author)
        api = "/api/v1"
        if what == "post":
            body = {"body": "news", "mentions": [str(other.id)]}
            assert self.client.post(f"{api}/posts", json=body, headers=headers).status_code == 201
        elif what in ("like", "comment"):
            post = self.client.post(f"{api}/posts", json={"body": "p"}, headers=auth(self.db, other))
            assert post.status_code == 201
            post_id = post.json()["id"]
            if what == "like":
                assert self.client.post(f"{api}/posts/{post_id}/like", headers=headers).status_code == 200
                assert (
                    self.client.post(f"{api}/posts/{post_id}/like", headers=auth(self.db, other)).status_code
                    == 200
                )
            else:
                answer = self.client.post(
                    f"{api}/posts/{post_id}/comments", json={"body": "c"}, headers=headers
                )
                assert answer.status_code == 201
        elif what == "task":
            body = {
                "title": "t",
                "responsible_id": str(author.id),
                "participant_ids": [str(other.id)] if other.id != author.id else [],
            }
            assert self.client.post(f"{api}/tasks", json=body, headers=headers).status_code == 201
        elif what == "message" and other.id != author.id:
            body = {"to_user_id": str(other.id), "body": "hi"}
            assert self.client.post(f"{api}/messages", json=body, headers=headers).status_code == 201
        self.expect_created()

    @precondition(lambda self: len(self.with_status("active")) >= 1)
    @rule(data=st.data())
    def dismiss(self, data: st.DataObject) -> None:
        dismiss_user(self.db, self.pick(data, self.with_status("active")), actor=self.admin)

    @precondition(lambda self: len(self.with_status("dismissed")) >= 1)
    @rule(data=st.data())
    def rehire(self, data: st.DataObject) -> None:
        with contextlib.suppress(errors.SeatLimitReached):
            rehire_user(self.db, self.pick(data, self.with_status("dismissed")), actor=self.admin)

    def _mark_successor_gone(self, user_id: uuid.UUID) -> None:
        # References that went to this person may move on: earlier deletions cannot all come back.
        self.dirty |= set(self.before_delete)

    @precondition(lambda self: len(self.with_status("active") + self.with_status("dismissed")) >= 1)
    @rule(
        data=st.data(),
        default=st.sampled_from(list(Disposition)),
        per_kind=st.dictionaries(
            st.sampled_from([r.kind for r in content_references()]), st.sampled_from(list(Disposition))
        ),
    )
    def delete(self, data: st.DataObject, default: Disposition, per_kind: dict[str, Disposition]) -> None:
        user = self.pick(data, self.with_status("active") + self.with_status("dismissed"))
        actives = [u for u in self.with_status("active") if u != user.id]
        successor = self.user(data.draw(st.sampled_from(actives))).id if actives else None
        allowed = {r.kind: r.dispositions for r in content_references()}
        kinds = {k: d for k, d in per_kind.items() if d in allowed[k]}
        if successor is None:
            kinds = {k: d for k, d in kinds.items() if d is not Disposition.SUCCESSOR}
            default = Disposition.SYSTEM_USER if default is Disposition.SUCCESSOR else default
        refs = references_to(self.db, user)
        try:
            deletion.delete_user(
                self.db,
                user,
                actor=self.admin,
                confirm=user.email,
                disposition=DispositionPlan(default=default, successor_id=successor, kinds=kinds),
            )
        except errors.DispositionNotAllowed:
            return
        self._mark_successor_gone(user.id)
        self.before_delete[user.id] = refs
        self.dirty.discard(user.id)

    @precondition(lambda self: len(self.with_status("deleted")) >= 1)
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        user = self.pick(data, self.with_status("deleted"))
        try:
            result = deletion.restore_user(self.db, user, actor=self.admin)
        except errors.RestoreWindowPassed:
            return
        op = self.db.get(deletion.LifecycleOperation, (self.org_id, result.operation_id))
        assert op is not None
        moved = op.dispositions["moved"]
        for kind in set(moved) | set(result.restored) | set(result.left):
            assert result.restored.get(kind, 0) + result.left.get(kind, 0) == moved.get(kind, 0)
        if user.id not in self.dirty:
            assert result.left == {}
            assert references_to(self.db, user) == self.before_delete[user.id]
        self.before_delete.pop(user.id, None)
        # What this person gets back may since have been moved on or hidden by later deletions.
        self.dirty |= set(self.before_delete)

    @precondition(lambda self: len(self.with_status("active")) >= 2)
    @rule(data=st.data())
    def merge(self, data: st.DataObject) -> None:
        actives = self.with_status("active")
        source = self.pick(data, actives)
        into = self.pick(data, [u for u in actives if u != source.id])
        refs = references_to(self.db, source)
        deletion.merge_users(self.db, source, into=into, actor=self.admin, confirm=source.email)
        self._mark_successor_gone(source.id)
        self.before_delete[source.id] = refs
        self.dirty.discard(source.id)

    @precondition(lambda self: len(self.with_status("active")) >= 1)
    @rule(data=st.data(), from_system=st.booleans())
    def transfer(self, data: st.DataObject, from_system: bool) -> None:
        to = self.pick(data, self.with_status("active"))
        if from_system or len(self.users) < 2:
            source = accounts.get_system_user(self.db, self.org_id)
        else:
            source = self.pick(data, [u for u in self.users if u != to.id])
        deletion.transfer_references(self.db, source, to=to, actor=self.admin)
        self.dirty |= set(self.before_delete)

    @precondition(lambda self: len(self.with_status("active") + self.with_status("deleted")) >= 1)
    @rule(data=st.data())
    def erase(self, data: st.DataObject) -> None:
        user = self.pick(data, self.with_status("active") + self.with_status("deleted"))
        if user.email is None:
            return  # already purged: erasing needs the id as confirmation; covered elsewhere
        hidden = _hidden_ids(self.db)
        # Erasing hides and destroys in one go: the person's duplicates of what the System User
        # already has (a second member of one chat) go at once.
        for table_name, ids in _rows_of(self.db, user).items():
            hidden.setdefault(table_name, set()).update(ids)
        deletion.erase_user(self.db, user, actor=self.admin, confirm=user.email)
        self._mark_successor_gone(user.id)
        self.dirty |= set(self.before_delete)
        self.before_delete.pop(user.id, None)
        self.expect_destroyed(hidden)

    @rule(days=st.integers(min_value=1, max_value=40))
    def time_passes_and_the_purge_runs(self, days: int) -> None:
        clock.advance(timedelta(days=days))
        hidden = _hidden_ids(self.db)
        if deletion.purge_expired(self.db):
            self.dirty |= set(self.before_delete)
        self.expect_destroyed(hidden)

    def expect_destroyed(self, hidden_before: dict[str, set[tuple[Any, ...]]]) -> None:
        """Only rows that were hidden, or rows hanging off destroyed rows, may have disappeared."""
        now = _row_ids(self.db)
        shrunk = {t for t, ids in self.rows.items() if not ids <= now[t]}
        for table_name in shrunk:
            gone = self.rows[table_name] - now[table_name]
            visible_gone = gone - hidden_before.get(table_name, set())
            if visible_gone:
                table = Base.metadata.tables[table_name]
                parents = {fk.referred_table.name for fk in table.foreign_key_constraints}
                assert parents & shrunk, f"{table_name}: visible rows destroyed: {visible_gone}"
        for table_name, ids in now.items():
            assert ids <= self.rows[table_name], f"{table_name}: rows appeared during a purge"
        self.rows = now

    # ---- invariants

    @invariant()
    def nothing_is_lost_or_duplicated(self) -> None:
        assert _row_ids(self.db) == self.rows

    @invariant()
    def no_organization_exceeds_its_seats(self) -> None:
        org = self.db.get(Organization, self.org_id)
        assert org is not None
        self.db.refresh(org)
        active = self.db.scalar(
            select(func.count())
            .select_from(User)
            .where(User.org_id == self.org_id, User.status == "active", User.is_system.is_(False))
        )
        pending = self.db.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.org_id == self.org_id, Invitation.status == "pending")
        )
        limit = seat_limit(org.plan)
        assert org.seats_used == (active or 0) + (pending or 0)
        assert limit is None or org.seats_used <= limit

    @invariant()
    def deleted_users_are_never_listed(self) -> None:
        deleted = {str(u) for u in self.with_status("deleted")}
        listing = self.client.get("/api/v1/users?per_page=200", headers=self.admin_headers)
        assert listing.status_code == 200, listing.text
        assert not deleted & {u["id"] for u in listing.json()["items"]}
        picker = self.client.get("/api/v1/users/autocomplete?q=e&limit=50", headers=self.admin_headers)
        if picker.status_code == 200:
            assert not deleted & {u["id"] for u in picker.json()}

    @invariant()
    def only_active_users_hold_references_visibly_after_deletion(self) -> None:
        for user_id in self.with_status("deleted"):
            assert references_to(self.db, self.user(user_id), visible_only=True) == {}


def test_lifecycle_sequences_keep_the_invariants(engine: Engine, tmp_path: Any) -> None:
    LifecycleMachine.engine = engine
    LifecycleMachine.tmp_path = tmp_path
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
