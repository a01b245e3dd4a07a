"""Lists that stay cheap in a large organization: each statement is read through an index.

The statement counts per request are held by test_query_counts.py; these tests hold what each of
the statements costs once the tables are big, without timing anything: they ask the database how
it would run the statement (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL with sequential
scans turned off, since a table this small is read whole unless told otherwise) and check that the
index is used rather than every row of the organization read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from roster.accounts.service import get_system_user
from roster.directory import departments
from roster.lifecycle import audit, deletion, invitations
from roster.lifecycle.seats import get_seat_ledger
from roster.tasks.service import create_task, list_tasks
from tests.deletion_support import make_busy
from tests.factories import auth, make_org, make_user

Statement = tuple[str, Any]


@contextmanager
def statements_sent(connection: Connection) -> Iterator[list[Statement]]:
    sent: list[Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", record)


def plan_of(db: Session, statement: str, parameters: Any) -> list[str]:
    """The database's plan for a statement, one step per line."""
    connection = db.connection()
    savepoint = db.begin_nested()
    try:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return [str(row[-1]) for row in rows]
        # With a few rows, PostgreSQL may read a table whole, or through a bitmap of an index and
        # then sort, however the indexes stand: both are off, so the plan shows what the indexes
        # can do at scale (an ordered index scan needs no sort step).
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        return [str(row[0]) for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)]
    finally:
        savepoint.rollback()  # the setting goes with it


def only(sent: list[Statement], test: Callable[[str], bool]) -> Statement:
    found = [s for s in sent if test(s[0])]
    assert len(found) == 1, [s for s, _ in sent]
    return found[0]


def is_sqlite(db: Session) -> bool:
    return db.connection().dialect.name == "sqlite"


def test_an_employees_task_list_is_found_by_the_user_indexes(db: Session) -> None:
    """The tasks a person creates, answers for, takes part in or observes: four index lookups, not
    every task of the organization tested against four conditions."""
    o = make_org(db, plan="enterprise")
    someone = make_user(db, o.org)
    for i in range(3):
        create_task(db, actor=o.admin, title=f"Task {i}", responsible_id=o.admin.id)
    mine = create_task(
        db, actor=o.admin, title="Theirs", responsible_id=o.admin.id, participant_ids=[someone.id]
    )
    db.flush()
    with statements_sent(db.connection()) as sent:
        tasks, total = list_tasks(db, someone)
    assert [t.id for t in tasks] == [mine.id] and total == 1
    for statement, parameters in sent:
        plan = plan_of(db, statement, parameters)
        text = "\n".join(plan)
        if is_sqlite(db):
            assert not any(step.startswith("SCAN") for step in plan), text
            assert not any(step.endswith("(org_id=?)") for step in plan), text  # every task of the org
        else:
            # the memberships are looked up by the person, not probed task by task
            assert "ix_task_participants_user" in text and "ix_task_observers_user" in text, text


def test_a_departments_members_are_found_by_the_department(client: TestClient, db: Session) -> None:
    """The members list and the directory's department filter start from the department's
    memberships, not from every person of the organization probed one by one."""
    o = make_org(db, plan="enterprise")
    people = [make_user(db, o.org) for _ in range(4)]
    team = departments.create_department(db, o.org.id, actor=o.admin, name="Team")
    departments.add_department_members(db, team, [people[0].id, people[1].id], actor=o.admin)
    db.flush()
    h = auth(db, o.admin)
    for path in (f"/api/v1/departments/{team.id}/members", f"/api/v1/users?department_id={team.id}"):
        with statements_sent(db.connection()) as sent:
            answer = client.get(path, headers=h)
        assert answer.status_code == 200, answer.text
        assert {u["id"] for u in answer.json()["items"]} == {str(people[0].id), str(people[1].id)}
        assert answer.json()["total"] == 2
        listed = [s for s in sent if "department_members" in s[0]]
        assert len(listed) == 2, [s for s, _ in sent]  # the count and the page
        for statement, parameters in listed:
            plan = plan_of(db, statement, parameters)
            text = "\n".join(plan)
            if is_sqlite(db):
                # The memberships are read once, by the department's key, into a list the people
                # are checked against (a correlated EXISTS searched them once for every person).
                assert "CORRELATED" not in text, text
                assert any("department_members" in step and "department_id=?)" in step for step in plan), text
            else:
                assert "Seq Scan on users" not in text, text
                assert "uq_department_members_org_id_department_id_user_id" in text, text


def test_the_whole_audit_log_is_paged_by_its_sequence_without_counting_it(db: Session) -> None:
    """Unfiltered, the log's total is the chain head's number and a page starts at a known
    number: no COUNT over the log and no OFFSET, at page 1 as at the last page."""
    o = make_org(db, plan="enterprise")
    for i in range(23):
        audit.record_event(
            db, org_id=o.org.id, action="user.dismissed", actor=o.admin, subject=o.admin, details={"n": i}
        )
    db.flush()
    everything = audit.list_audit_events(db, o.org.id, action="user.", per_page=200)[0]
    seqs = [e.seq for e in everything]
    assert seqs == sorted(seqs, reverse=True)
    head = seqs[0]
    assert seqs == list(range(head, 0, -1))  # numbered without a gap
    pages = []
    for page in range(1, 7):
        with statements_sent(db.connection()) as sent:
            items, total = audit.list_audit_events(db, o.org.id, page=page, per_page=5)
        assert total == head
        pages.append([e.seq for e in items])
        assert not any("count(" in statement.lower() for statement, _ in sent), sent
        if total >= (page - 1) * 5 + 1:  # the page starts at its number (no rows skipped)
            only(sent, lambda statement: "audit_events.seq <=" in statement)
    assert [s for p in pages for s in p] == list(range(head, 0, -1))
    assert pages[-1] == []
    # the same pages and total as a filter that keeps every event (which counts and offsets)
    since = datetime(2000, 1, 1, tzinfo=UTC)
    for page in (1, 3, 6):
        unfiltered = audit.list_audit_events(db, o.org.id, page=page, per_page=5)
        filtered = audit.list_audit_events(db, o.org.id, since=since, page=page, per_page=5)
        assert ([e.seq for e in unfiltered[0]], unfiltered[1]) == ([e.seq for e in filtered[0]], filtered[1])


def test_the_audit_log_filtered_by_actor_subject_or_action_reads_its_index_in_order(db: Session) -> None:
    o = make_org(db, plan="enterprise")
    other = make_user(db, o.org)
    for _ in range(5):
        audit.record_event(db, org_id=o.org.id, action="user.dismissed", actor=o.admin, subject=other)
    db.flush()
    for name, filters in (
        ("ix_audit_events_actor", {"actor_id": other.id}),
        ("ix_audit_events_subject", {"subject_id": other.id}),
        ("ix_audit_events_action", {"action": "user.rehired"}),
    ):
        with statements_sent(db.connection()) as sent:
            audit.list_audit_events(db, o.org.id, page=2, per_page=2, **filters)  # type: ignore[arg-type]
        statement, parameters = only(sent, lambda s: "ORDER BY" in s)
        plan = plan_of(db, statement, parameters)
        text = "\n".join(plan)
        assert name in text, text
        if is_sqlite(db):
            assert "TEMP B-TREE" not in text, text  # read in seq order, not sorted afterwards
        else:
            assert "Sort" not in text, text


def test_pages_with_people_pickers_do_not_count_the_directory(client: TestClient, db: Session) -> None:
    """The no-JavaScript pickers list the first people by name; counting every active person of
    the organization for a total nobody sees was the dearest statement of these pages."""
    o = make_org(db, plan="enterprise")
    employee = make_user(db, o.org)
    db.flush()
    for path in ("/tasks", "/stream", "/crm"):
        with statements_sent(db.connection()) as sent:
            answer = client.get(path, headers=auth(db, employee))
        assert answer.status_code == 200, answer.text
        assert employee.display_name in answer.text  # the picker lists people
        counts = [s for s, _ in sent if "count(" in s.lower() and "FROM users" in s]
        assert counts == [], counts


def test_the_invitations_list_is_read_newest_first_from_its_index(db: Session) -> None:
    """Every invitation ever sent stays in the table; a page reads the newest, not all of them
    sorted."""
    o = make_org(db, plan="enterprise")
    for i in range(3):
        invitations.invite_user(db, o.org.id, actor=o.admin, email=f"new{i}@example.test")
    db.flush()
    with statements_sent(db.connection()) as sent:
        items, total = invitations.list_invitations(db, o.org.id, page=1, per_page=2)
    assert total == 3 and len(items) == 2
    statement, parameters = only(sent, lambda s: "ORDER BY" in s)
    text = "\n".join(plan_of(db, statement, parameters))
    assert "ix_invitations_created" in text, text
    if is_sqlite(db):
        assert "TEMP B-TREE" not in text, text
    else:
        assert "Sort" not in text, text


def test_an_admins_people_tabs_count_the_people_who_left_from_their_index(
    client: TestClient, db: Session
) -> None:
    """The counts on the people pages' tabs: one COUNT per tab, not a COUNT and a page of each;
    the dismissed and deleted people together, from the index that holds only them."""
    o = make_org(db, plan="enterprise")
    make_user(db, o.org)
    make_user(db, o.org, dismissed=True)
    invitations.invite_user(db, o.org.id, actor=o.admin, email="pending@example.test")
    db.flush()
    h = auth(db, o.admin)
    with statements_sent(db.connection()) as sent:
        answer = client.get("/people/dismissed", headers=h)
    assert answer.status_code == 200, answer.text
    for tab, count in (("Active", 2), ("Invited", 1), ("Dismissed", 1), ("Deleted", 0)):
        assert re.search(rf'>{tab} <span class="tab-count">{count}</span>', answer.text), tab
    statement, parameters = only(sent, lambda s: "GROUP BY users.status" in s)
    text = "\n".join(plan_of(db, statement, parameters))
    assert "ix_users_former" in text, text
    if is_sqlite(db):
        assert not any(step.startswith("SCAN") for step in text.splitlines()), text
    # no page of any other tab is read: users are selected for the dismissed list only
    pages = [s for s, _ in sent if s.startswith("SELECT users.org_id, users.id") and "LIMIT" in s]
    assert len(pages) == 1, pages
    # the tab's count of pending invitations and the seat meter's; no page of them
    invited = [s for s, _ in sent if "FROM invitations" in s]
    assert len(invited) == 2 and all("count(" in s for s in invited), invited


@pytest.mark.parametrize("where", ["seat meter", "people tabs", "directory total"])
def test_active_people_are_counted_from_an_active_peoples_index(
    where: str, client: TestClient, db: Session
) -> None:
    """The seat meter (on the seats page and every admin people page), the Active tab's count and
    the directory's total count the active people from one of the active people's partial
    indexes, which hold only them: not through another index of the organization's people with a
    look at each row (SQLite's choice for a bare count), nor by reading every person
    (PostgreSQL's, before the predicate was written as the indexes state it)."""
    o = make_org(db, plan="enterprise")
    for _ in range(3):
        make_user(db, o.org)
    make_user(db, o.org, dismissed=True)
    db.flush()
    with statements_sent(db.connection()) as sent:
        if where == "seat meter":
            assert get_seat_ledger(db, o.org.id).active == 4  # not the dismissed, not the System User
        elif where == "people tabs":
            answer = client.get("/people", headers=auth(db, o.admin))
            assert re.search(r'>Active <span class="tab-count">4</span>', answer.text), answer.text
        else:
            assert client.get("/api/v1/users", headers=auth(db, o.admin)).json()["total"] == 4
    counts = [
        (statement, parameters)
        for statement, parameters in sent
        if statement.lower().startswith("select count(")
        and "FROM users" in statement
        and "GROUP BY" not in statement
    ]
    assert counts
    for statement, parameters in counts:  # the people page shows all three
        text = "\n".join(plan_of(db, statement, parameters))
        if is_sqlite(db):
            assert re.search(r"USING (COVERING )?INDEX ix_users_active_\w+ \(org_id=\?", text), text
        else:
            assert "ix_users_active_" in text, text


def test_a_family_of_audit_events_is_counted_from_the_action_index(db: Session) -> None:
    """``action=user.`` names the family's events from the log's vocabulary: the count reads the
    action index instead of scanning the organization's whole log with a LIKE."""
    o = make_org(db, plan="enterprise")
    other = make_user(db, o.org)
    for action in ("user.dismissed", "user.rehired", "invitation.resent"):
        audit.record_event(db, org_id=o.org.id, action=action, actor=o.admin, subject=other)
    db.flush()
    with statements_sent(db.connection()) as sent:
        events, total = audit.list_audit_events(db, o.org.id, action="user.", per_page=50)
    assert total == len(events) and {e.action for e in events} >= {"user.dismissed", "user.rehired"}
    assert all(e.action.startswith("user.") for e in events)
    statement, parameters = only(sent, lambda s: "count(" in s.lower())
    text = "\n".join(plan_of(db, statement, parameters))
    assert "ix_audit_events_action" in text, text
    assert "like" not in statement.lower(), statement
    if is_sqlite(db):
        # The index is searched by name, not read through for the whole organization.
        assert "(org_id=? AND action=?)" in text, text
    assert audit.list_audit_events(db, o.org.id, action="nosuchfamily.") == ([], 0)


def test_what_the_system_user_holds_of_one_person_is_read_from_that_persons_map_rows(
    client: TestClient, db: Session
) -> None:
    """A person's authorship page counts what the System User still holds of theirs from the map's
    rows for that person (its original-user index, by kind), not by walking everything the System
    User holds and looking each row up in the map."""
    o = make_org(db, plan="enterprise")
    leaver, helper = make_user(db, o.org), make_user(db, o.org)
    make_busy(client, db, leaver, [helper, o.admin])
    deletion.delete_user(db, leaver, actor=o.admin, confirm=leaver.email)
    system = get_system_user(db, o.org.id)
    with statements_sent(db.connection()) as sent:
        (held,) = deletion.list_holdings_by_original(db, system, originally_by=leaver.id)
    assert held.counts
    statement, parameters = only(sent, lambda s: "authorship" in s)
    text = "\n".join(plan_of(db, statement, parameters))
    branches = statement.upper().count("UNION ALL") + 1
    assert text.count("ix_authorship_original_user") >= branches, text


def test_a_directory_page_read_by_cursor_starts_at_the_cursor_in_the_name_index(
    client: TestClient, db: Session
) -> None:
    """``GET /users?after=``: the page is read from the name index starting at the cursor (not
    walked to by an OFFSET), so a deep page costs what the first does."""
    o = make_org(db)
    for first in ("Abe", "Bea", "Cleo"):
        make_user(db, o.org, first_name=first)
    admin = auth(db, o.admin)
    cursor = client.get("/api/v1/users", params={"per_page": 1}, headers=admin).json()["next"]
    with statements_sent(db.connection()) as sent:
        answer = client.get("/api/v1/users", params={"per_page": 1, "after": cursor}, headers=admin)
    assert answer.status_code == 200 and len(answer.json()["items"]) == 1
    statement, parameters = only(sent, lambda s: "ORDER BY" in s and "display_name_key" in s)
    text = "\n".join(plan_of(db, statement, parameters))
    # Either name index will do (the active people's or everyone's), as long as it starts there.
    if is_sqlite(db):
        assert re.search(
            r"SEARCH users USING INDEX ix_users_\w+ \(org_id=\? AND display_name_key>\?\)", text
        ), text
    else:
        assert re.search(r"Index Cond: .*display_name_key\)::text >=", text), text


def test_the_page_before_a_cursor_is_read_backwards_from_the_cursor_in_the_name_index(
    db: Session,
) -> None:
    """The directory's Previous link: the people just before a cursor are read from the name index
    walking back from it (not by an OFFSET, nor by reading from the start of the list)."""
    from roster.directory.search import search_users

    o = make_org(db)
    people = [make_user(db, o.org, first_name=first) for first in ("Abe", "Bea", "Cleo", "Dov")]
    db.flush()
    everyone, _ = search_users(db, o.org.id, per_page=10)
    last = everyone[-1]
    with statements_sent(db.connection()) as sent:
        before, total = search_users(db, o.org.id, per_page=2, before=(last.display_name_key, last.id))
    assert before == everyone[-3:-1] and total == len(everyone) == len(people) + 1
    statement, parameters = only(sent, lambda s: "ORDER BY" in s and "display_name_key" in s)
    text = "\n".join(plan_of(db, statement, parameters))
    if is_sqlite(db):
        assert re.search(
            r"SEARCH users USING INDEX ix_users_\w+ \(org_id=\? AND display_name_key<\?\)", text
        ), text
    else:
        assert "Index Scan Backward" in text, text
        assert re.search(r"Index Cond: .*display_name_key\)::text <=", text), text
