"""Helpers for the deletion tests: busy users with content in every module, table snapshots, and
counts of references, all read from the reference registry (no module's table is named here)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.db.base import Base
from roster.lifecycle.models import AuditEvent
from roster.references import Handling, UserReference, all_references, content_references
from tests.factories import auth


def content_tables() -> list[Table]:
    names = sorted({ref.table for ref in content_references()})
    return [Base.metadata.tables[name] for name in names]


def snapshot(
    db: Session, tables: Sequence[Table] | None = None, *, but: Sequence[User] = ()
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables (content tables by default), in primary-key order; the rows of the
    users in ``but`` are left out of the users table (their own state is what the test changes)."""
    db.flush()
    result = {}
    for table in tables if tables is not None else content_tables():
        pk = list(table.primary_key.columns)
        query = select(table).order_by(*pk)
        if table.name == "users" and but:
            query = query.where(table.c.id.not_in([u.id for u in but]))
        result[table.name] = [tuple(row) for row in db.execute(query).all()]
    return result


def row_counts(db: Session, tables: Sequence[Table] | None = None) -> dict[str, int]:
    db.flush()
    return {
        table.name: int(db.scalar(select(func.count()).select_from(table)) or 0)
        for table in (tables if tables is not None else content_tables())
    }


def _hide(ref: UserReference) -> str | None:
    table = Base.metadata.tables[ref.table]
    if ref.hide_column:
        return ref.hide_column
    return "hidden_by" if "hidden_by" in table.c else None


def references_to(db: Session, user: User, *, visible_only: bool = False) -> dict[str, int]:
    """Per content kind, how many rows point at the user (hidden ones too unless visible_only)."""
    db.flush()
    counts = {}
    for ref in content_references():
        table = Base.metadata.tables[ref.table]
        conditions = [table.c.org_id == user.org_id, table.c[ref.column] == user.id]
        hide = _hide(ref)
        if visible_only and hide:
            conditions.append(table.c[hide].is_(None))
        n = int(db.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)
        if n:
            counts[ref.kind] = n
    return counts


def credential_rows(db: Session, user: User) -> int:
    db.flush()
    total = 0
    for ref in all_references():
        if ref.handling is Handling.CREDENTIAL:
            table = Base.metadata.tables[ref.table]
            total += int(
                db.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.org_id == user.org_id, table.c[ref.column] == user.id)
                )
                or 0
            )
    return total


def audit_actions(db: Session, org_id: uuid.UUID) -> list[str]:
    db.flush()
    return list(
        db.scalars(select(AuditEvent.action).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq))
    )


def _routes(client: TestClient) -> set[tuple[str, str]]:
    app: Any = client.app
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}


def _ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


def make_busy(
    client: TestClient, db: Session, busy: User, others: Sequence[User], *, rounds: int = 1
) -> None:
    """Content in every module that exists, by and about ``busy`` (and by ``others`` about them),
    made through the public API so it is exactly what real use creates."""
    routes = _routes(client)
    me = auth(db, busy)
    them = [auth(db, o) for o in others]
    api = "/api/v1"
    for n in range(rounds):
        if ("POST", f"{api}/posts") in routes:
            post = _ok(client.post(f"{api}/posts", json={"body": f"Post {n}"}, headers=me))
            mention = _ok(
                client.post(
                    f"{api}/posts",
                    json={
                        "body": f"Hello {n}",
                        "mentions": [str(busy.id), str(others[0].id)],
                        "tags": [str(busy.id)],
                        "audience": [str(busy.id), str(others[0].id)],
                    },
                    headers=them[0],
                )
            )
            for target in (post, mention):
                if ("POST", f"{api}/posts/{{post_id}}/like") in routes:
                    _ok(client.post(f"{api}/posts/{target['id']}/like", headers=me))
                    # The other person likes it too: moving busy's like to them would duplicate it.
                    _ok(client.post(f"{api}/posts/{target['id']}/like", headers=them[0]))
                if ("POST", f"{api}/posts/{{post_id}}/comments") in routes:
                    _ok(
                        client.post(
                            f"{api}/posts/{target['id']}/comments",
                            json={"body": "A comment", "mentions": [str(others[0].id)]},
                            headers=me,
                        )
                    )
                    _ok(
                        client.post(
                            f"{api}/posts/{target['id']}/comments",
                            json={"body": "Agreed", "mentions": [str(busy.id)]},
                            headers=them[0],
                        )
                    )
        if ("POST", f"{api}/tasks") in routes:
            _ok(
                client.post(
                    f"{api}/tasks",
                    json={
                        "title": f"Task {n}",
                        "responsible_id": str(busy.id),
                        "participant_ids": [str(others[0].id)],
                        "observer_ids": [str(others[-1].id)],
                    },
                    headers=me,
                )
            )
            _ok(
                client.post(
                    f"{api}/tasks",
                    json={
                        "title": f"Their task {n}",
                        "responsible_id": str(others[0].id),
                        "participant_ids": [str(busy.id)],
                        "observer_ids": [str(others[-1].id)],
                    },
                    headers=them[0],
                )
            )
            _ok(
                client.post(
                    f"{api}/tasks",
                    json={
                        "title": f"Watched task {n}",
                        "responsible_id": str(others[0].id),
                        "observer_ids": [str(busy.id)],
                    },
                    headers=them[0],
                )
            )
        if ("POST", f"{api}/invitations") in routes and busy.role == "admin":
            _ok(
                client.post(
                    f"{api}/invitations",
                    json={"email": f"new-{uuid.uuid4().hex[:8]}@example.test"},
                    headers=me,
                )
            )
        if ("POST", f"{api}/files") in routes:
            _ok(
                client.post(
                    f"{api}/files",
                    files={"file": (f"notes-{n}.txt", io.BytesIO(b"some notes"), "text/plain")},
                    headers=me,
                )
            )
        if ("POST", f"{api}/messages") in routes:
            _ok(
                client.post(
                    f"{api}/messages", json={"to_user_id": str(others[0].id), "body": "Hi"}, headers=me
                )
            )
            _ok(
                client.post(
                    f"{api}/messages", json={"to_user_id": str(busy.id), "body": "Hey"}, headers=them[0]
                )
            )
        if ("POST", f"{api}/crm/leads") in routes:
            _ok(
                client.post(
                    f"{api}/crm/leads",
                    json={"title": f"Lead {n}", "responsible_id": str(busy.id)},
                    headers=me,
                )
            )
    _departments(db, busy, others)
    users = Base.metadata.tables["users"]
    if "manager_id" in users.c:
        db.execute(
            update(users)
            .where(users.c.org_id == busy.org_id, users.c.id == others[0].id)
            .values(manager_id=busy.id)
        )
    db.flush()


def _departments(db: Session, busy: User, others: Sequence[User]) -> None:
    try:
        from roster.directory import departments
    except ImportError:  # the directory module is not there
        return
    head = departments.create_department(
        db, busy.org_id, actor=None, name=f"Dept {uuid.uuid4().hex[:6]}", head_id=busy.id
    )
    departments.add_department_members(db, head, [busy.id, others[0].id], actor=None)


def rows_hidden(deleted: dict[str, int]) -> int:
    """How many rows a deletion's ``deleted`` report hid: a row counted under two kinds (a task
    they created, gone with the one they answered for) counts once, under the kind that may be
    deleted."""
    from roster.references import Disposition, get_reference

    total = 0
    for kind, n in deleted.items():
        ref = get_reference(kind)
        assert ref is not None
        if Disposition.DELETE in ref.dispositions:
            total += n
    return total
