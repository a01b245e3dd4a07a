"""The audit log: append-only and hash-chained per organization.

Each event's ``hash`` is SHA-256 over the previous hash, the event's structural fields (seq, time,
action, actor and subject ids) and ``personal_digest``, a SHA-256 of its personal fields (actor and
subject display names, details). The organization row keeps the chain's head (``audit_seq``,
``audit_head``), so removing the newest events is detected as well as editing or removing any other.

Erasure (GDPR Art. 17) must remove a person's name from old events without breaking the chain. The
chained ``personal_digest`` stays the original; the rewrite is recorded on the event
(``redactions``: the seq of the redaction event and the digest of the rewritten personal fields),
and the redaction event's own (chained) details carry a digest over every (event seq, new digest)
it made. ``verify_chain`` accepts personal fields that match either the original digest or the
latest attested redaction; anything else is tampering.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Table, bindparam, cast, false, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnElement

from roster import clock
from roster.accounts.models import Organization, User
from roster.db.prepared import Prepared, instance_of
from roster.domain import errors
from roster.domain.audit import AUDIT_ACTIONS, is_audit_action
from roster.domain.text import has_control_characters
from roster.ids import new_id
from roster.lifecycle.models import AuditEvent

GENESIS = "0" * 64
REDACTION_ACTION = "audit.redacted"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _plain(details: dict[str, Any] | None) -> dict[str, Any]:
    """Details as plain JSON (dates and ids become strings), exactly as they will read back."""
    result: dict[str, Any] = json.loads(_canonical(details or {}))
    return result


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def personal_digest_of(actor_display: str, subject_display: str, details: dict[str, Any]) -> str:
    """The digest of an event's personal fields."""
    return _digest(_canonical({"actor": actor_display, "subject": subject_display, "details": details}))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    prev_hash: str,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    seq: int,
    created_at: datetime,
    action: str,
    actor_id: uuid.UUID | None,
    subject_id: uuid.UUID | None,
    personal_digest: str,
) -> str:
    """The chained hash of one event."""
    core = {
        "prev": prev_hash,
        "org": str(org_id),
        "id": str(event_id),
        "seq": seq,
        "at": _iso(created_at),
        "action": action,
        "actor": str(actor_id) if actor_id else None,
        "subject": str(subject_id) if subject_id else None,
        "personal": personal_digest,
    }
    return _digest(_canonical(core))


def _display(user: User | None) -> str:
    if user is None:
        return "System"
    return user.display_name or (user.email or "")


_ORGANIZATIONS: Table = Organization.__table__  # type: ignore[assignment]
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
# Made once, on the tables (not the mapped classes, whose statements go through the ORM's bulk
# update machinery): every write in Roster appends an event, and building these per call was most
# of what an append cost.
_NEXT_SEQ = Prepared(
    update(_ORGANIZATIONS)
    .where(_ORGANIZATIONS.c.id == bindparam("org_id"))
    .values(audit_seq=_ORGANIZATIONS.c.audit_seq + 1)
    .returning(_ORGANIZATIONS.c.audit_seq, _ORGANIZATIONS.c.audit_head)
)
_SET_HEAD = Prepared(
    update(_ORGANIZATIONS)
    .where(_ORGANIZATIONS.c.id == bindparam("org_id"))
    .values(audit_head=bindparam("head"))
)
_APPEND = Prepared(insert(_EVENTS), columns=[column.key for column in _EVENTS.columns])


def record_event(
    session: Session,
    *,
    org_id: uuid.UUID,
    action: str,
    actor: User | None,
    subject: User | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the organization's chain, in the caller's transaction.

    ``actor=None`` is the system (a background job, a SCIM token: say which in ``details``).
    The event is written with one INSERT; the object returned is a copy of the row, not one the
    session tracks (an event is never changed after it is appended, except by ``redact_person``,
    which loads the events it rewrites). ``action`` is one of ``roster.domain.audit``'s names.
    """
    if not is_audit_action(action):
        # The list is what the admin page offers to filter by: an event missing from it could not
        # be found there.
        raise ValueError(f"{action!r} is not an audit event name; add it to roster.domain.audit")
    # The UPDATE takes the organization's row lock (write lock on SQLite): appends are serialised
    # per organization, so two transactions can never extend the chain from the same head. The
    # session flushes pending objects before executing it, so a subject just added has its row.
    row = _NEXT_SEQ.execute(session, {"org_id": org_id}).one()
    seq, prev = int(row[0]), row[1] or GENESIS
    plain = _plain(details)
    actor_display = _display(actor)
    subject_display = _display(subject) if subject is not None else ""
    personal = personal_digest_of(actor_display, subject_display, plain)
    created_at = clock.now()
    event_id = new_id()
    actor_id = actor.id if actor else None
    subject_id = subject.id if subject else None
    digest = event_hash(
        prev_hash=prev,
        org_id=org_id,
        event_id=event_id,
        seq=seq,
        created_at=created_at,
        action=action,
        actor_id=actor_id,
        subject_id=subject_id,
        personal_digest=personal,
    )
    columns: dict[str, Any] = {
        "org_id": org_id,
        "id": event_id,
        "seq": seq,
        "created_at": created_at,
        "action": action,
        "actor_id": actor_id,
        "subject_id": subject_id,
        "actor_display": actor_display[:200],
        "subject_display": subject_display[:200],
        "details": plain,
        "personal_digest": personal,
        "redactions": None,
        "prev_hash": prev,
        "hash": digest,
    }
    _APPEND.execute(session, columns)
    _SET_HEAD.execute(session, {"org_id": org_id, "head": digest})
    # An Organization already loaded in this session must not keep the old head; one that is not
    # loaded need not be (session.get would read it just to expire it).
    org = session.identity_map.get(identity_key(Organization, (org_id,)))
    if org is not None:
        session.expire(org, ["audit_seq", "audit_head"])
    return instance_of(AuditEvent, columns)


def _scrub(value: Any, needles: list[str], pseudonym: str, exact: frozenset[str] = frozenset()) -> Any:
    """``value`` with the person's names and emails, wherever one stands on its own, replaced by the pseudonym."""
    if isinstance(value, str):
        lowered = value.casefold()
        if lowered.strip() in exact:
            return pseudonym
        if any(n in lowered for n in needles):
            result = value
            for needle in needles:
                result = _replace_casefold(result, needle, pseudonym)
            return result
        return value
    if isinstance(value, list):
        return [_scrub(v, needles, pseudonym, exact) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, needles, pseudonym, exact) for k, v in value.items()}
    return value


def _replace_casefold(text: str, needle: str, replacement: str) -> str:
    out, i, low = [], 0, text.casefold()
    if len(low) != len(text):  # casefold changed the length (ß -> ss): replace the whole string
        return replacement if next(_whole_occurrences(low, needle), None) is not None else text
    for j in _whole_occurrences(low, needle):
        out.append(text[i:j])
        out.append(replacement)
        i = j + len(needle)
    out.append(text[i:])
    return "".join(out)


def replace_names(text: str, names: Iterable[str], replacement: str) -> str:
    """``text`` with each of ``names`` (any case, the longest first) replaced where it stands on
    its own, never inside a longer word, address or link."""
    for needle in sorted({n.casefold() for n in names if n}, key=len, reverse=True):
        if needle in text.casefold():
            text = _replace_casefold(text, needle, replacement)
    return text


# Characters that join words into one address or handle ("ann.lee@x.test", "mary-ann"): a name
# next to one of them, with a letter or digit beyond, is part of something longer.
_JOINERS = frozenset("@.+-_")


def _joined(text: str, at: int, step: int) -> bool:
    """Whether the character at ``at`` continues a word that runs on past a match's edge."""
    if not 0 <= at < len(text):
        return False
    if text[at].isalnum():
        return True
    beyond = at + step
    return text[at] in _JOINERS and 0 <= beyond < len(text) and text[beyond].isalnum()


def _whole_occurrences(low: str, needle: str) -> Iterator[int]:
    """Where ``needle`` stands on its own in ``low``: never inside a longer word or address.

    Erasing "Test Account" must not rewrite the "test" of "ravi@demo.test", nor "Ann" the
    "Anna" of a colleague's name.
    """
    start = 0
    while (j := low.find(needle, start)) >= 0:
        end = j + len(needle)
        if not _joined(low, j - 1, -1) and not _joined(low, end, 1):
            yield j
            start = end
        else:
            start = j + 1


def _combined(entries: list[tuple[int, str]]) -> str:
    return _digest(_canonical(sorted(entries)))


def earlier_addresses(session: Session, *, org_id: uuid.UUID, user_id: uuid.UUID) -> set[str]:
    """Every address an administrator changed a person's email from or to (``user.email_changed``)."""
    found: set[str] = set()
    changes = session.execute(
        select(AuditEvent.details).where(
            AuditEvent.org_id == org_id,
            AuditEvent.subject_id == user_id,
            AuditEvent.action == "user.email_changed",
        )
    ).scalars()
    for details in changes:
        for key in ("from", "to"):
            value = (details or {}).get(key)
            if isinstance(value, str) and value.strip():
                found.add(value.strip())
    return found


def redact_user(
    session: Session,
    *,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    pseudonym: str,
    names: Iterable[str] = (),
) -> int:
    """Replace a person's name and email in every old event with a pseudonym; returns the count.

    Call it before wiping the user row: it reads the person's email, display name, first and last
    name from it (and the names the log recorded for them, the addresses an administrator changed
    from, and any extra ``names``). Whole values
    equal to a first or last name are replaced too. The redaction is itself an event, which
    attests every rewrite; where nothing needed rewriting, none is written.
    """
    user = session.get(User, (org_id, user_id))
    found: set[str] = {n.strip() for n in names if n and len(n.strip()) >= 3}
    exact: set[str] = set()
    if user is not None:
        for part in (user.email, user.display_name, f"{user.first_name} {user.last_name}".strip()):
            if part and len(part.strip()) >= 3:
                found.add(part.strip())
        for part in (user.first_name.strip(), user.last_name.strip()):
            if part:
                exact.add(part.casefold())
                if len(part) >= 3:
                    found.add(part)
    recorded = session.execute(
        select(AuditEvent.actor_display).where(AuditEvent.org_id == org_id, AuditEvent.actor_id == user_id)
    ).scalars()
    found |= {n for n in recorded if n and len(n) >= 3 and n != pseudonym}
    recorded = session.execute(
        select(AuditEvent.subject_display).where(
            AuditEvent.org_id == org_id, AuditEvent.subject_id == user_id
        )
    ).scalars()
    found |= {n for n in recorded if n and len(n) >= 3 and n != pseudonym}
    found |= {a for a in earlier_addresses(session, org_id=org_id, user_id=user_id) if len(a) >= 3}
    found.discard(pseudonym)
    # Longest first, so "Ada Lovelace" is replaced before a bare "Ada" could split it.
    needles = sorted({n.casefold() for n in found}, key=len, reverse=True)
    frozen = frozenset(exact)

    details_text = func.lower(cast(AuditEvent.details, String))
    conditions = [
        AuditEvent.actor_id == user_id,
        AuditEvent.subject_id == user_id,
        details_text.contains(str(user_id)),
    ]
    conditions += [details_text.contains(n) for n in needles if n.isascii()]
    candidates = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.org_id == org_id, or_(*conditions))
        .order_by(AuditEvent.seq)
        .with_for_update()
    ).all()

    rewrites: list[tuple[AuditEvent, str, str, dict[str, Any], str]] = []
    for event in candidates:
        actor_display = pseudonym if event.actor_id == user_id else event.actor_display
        subject_display = pseudonym if event.subject_id == user_id else event.subject_display
        if needles or exact:
            actor_display = _scrub(actor_display, needles, pseudonym, frozen)
            subject_display = _scrub(subject_display, needles, pseudonym, frozen)
        details = _scrub(event.details, needles, pseudonym, frozen) if needles or exact else event.details
        if (actor_display, subject_display, details) == (
            event.actor_display,
            event.subject_display,
            event.details,
        ):
            continue
        new_digest = personal_digest_of(actor_display, subject_display, details)
        rewrites.append((event, actor_display, subject_display, details, new_digest))

    if not rewrites:
        return 0  # nothing to attest: no redaction event (an erasure records its own)
    # The redaction event is appended first so its seq is known; it attests exactly these rewrites.
    redaction = record_event(
        session,
        org_id=org_id,
        action=REDACTION_ACTION,
        actor=None,
        subject=None,
        details={
            "user_id": str(user_id),
            "pseudonym": pseudonym,
            "events": len(rewrites),
            "digest": _combined([(e.seq, d) for e, _, _, _, d in rewrites]),
        },
    )
    for event, actor_display, subject_display, details, new_digest in rewrites:
        event.actor_display = actor_display
        event.subject_display = subject_display
        event.details = details
        event.redactions = [*(event.redactions or []), {"seq": redaction.seq, "digest": new_digest}]
    session.flush()
    return len(rewrites)


@dataclass
class VerifyResult:
    ok: bool
    events: int
    problems: list[dict[str, Any]] = field(default_factory=list)
    redacted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "redacted": self.redacted, "problems": self.problems}


def verify_chain(session: Session, org_id: uuid.UUID) -> VerifyResult:
    """Check an organization's whole chain: edits, removals and unattested redactions."""
    org = session.get(Organization, org_id)
    if org is None:
        raise errors.NotFound("No such organization.")
    session.refresh(org, ["audit_seq", "audit_head"])
    problems: list[dict[str, Any]] = []
    prev = GENESIS
    expected_seq = 1
    count = 0
    redacted = 0
    attested: dict[int, str] = {}  # redaction seq -> digest its (chained) details claim
    claimed: dict[int, list[tuple[int, str]]] = defaultdict(list)  # redaction seq -> rewrites seen

    rows = session.execute(
        select(AuditEvent).where(AuditEvent.org_id == org_id).order_by(AuditEvent.seq)
    ).scalars()
    for event in rows:
        count += 1
        where = {"seq": event.seq, "event_id": str(event.id), "action": event.action}
        if event.seq != expected_seq:
            problems.append(
                {
                    **where,
                    "problem": "missing",
                    "detail": f"events {expected_seq}..{event.seq - 1} are missing",
                }
            )
        if event.prev_hash != prev:
            problems.append(
                {**where, "problem": "broken_link", "detail": "prev_hash does not match the event before"}
            )
        recomputed = event_hash(
            prev_hash=event.prev_hash,
            org_id=event.org_id,
            event_id=event.id,
            seq=event.seq,
            created_at=event.created_at,
            action=event.action,
            actor_id=event.actor_id,
            subject_id=event.subject_id,
            personal_digest=event.personal_digest,
        )
        if recomputed != event.hash:
            problems.append(
                {**where, "problem": "edited", "detail": "the event's fields do not match its hash"}
            )
        current = personal_digest_of(event.actor_display, event.subject_display, event.details or {})
        valid = current == event.personal_digest
        if event.redactions:
            for entry in event.redactions:
                claimed[int(entry.get("seq", -1))].append((event.seq, str(entry.get("digest", ""))))
            valid = current == str(event.redactions[-1].get("digest"))
            if valid:
                redacted += 1
            else:
                problems.append(
                    {**where, "problem": "edited", "detail": "personal fields changed after redaction"}
                )
        elif not valid:
            problems.append(
                {**where, "problem": "edited", "detail": "personal fields do not match their digest"}
            )
        if event.action == REDACTION_ACTION and valid:
            attested[event.seq] = str((event.details or {}).get("digest", ""))
        prev = event.hash
        expected_seq = event.seq + 1

    if expected_seq - 1 != org.audit_seq:
        problems.append(
            {
                "seq": expected_seq,
                "problem": "missing",
                "detail": f"the log should end at event {org.audit_seq}",
            }
        )
    elif count and prev != org.audit_head:
        problems.append(
            {"seq": expected_seq - 1, "problem": "broken_link", "detail": "the head does not match"}
        )
    for seq, entries in claimed.items():
        if attested.get(seq) != _combined(entries):
            problems.append(
                {
                    "seq": seq,
                    "problem": "unattested_redaction",
                    "detail": "a redaction does not match its record",
                }
            )
    for seq, digest in attested.items():
        if seq not in claimed and digest != _combined([]):
            problems.append(
                {"seq": seq, "problem": "unattested_redaction", "detail": "redacted events were altered"}
            )
    return VerifyResult(ok=not problems, events=count, problems=problems, redacted=redacted)


def _audit_filters(
    org_id: uuid.UUID,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AuditEvent.org_id == org_id]
    if action:
        # "user." lists every user event; "user.dismissed" exactly that one.
        if has_control_characters(action):
            # No event name has one, and PostgreSQL cannot compare NUL: nothing matches (the CSV
            # export, which fails only once it streams, included).
            conditions.append(false())
        elif action.endswith("."):
            # A family: the names it holds, from the log's closed vocabulary (``record_event``
            # writes no other), so both databases read the (org_id, action, seq) index by name.
            # A LIKE prefix could not use it (SQLite's LIKE ignores case; PostgreSQL's needs the
            # C collation) and counted a family by scanning the organization's whole log.
            names = [name for name in AUDIT_ACTIONS if name.startswith(action)]
            conditions.append(AuditEvent.action.in_(names) if names else false())
        else:
            conditions.append(AuditEvent.action == action)
    if actor_id is not None:
        conditions.append(AuditEvent.actor_id == actor_id)
    if subject_id is not None:
        conditions.append(AuditEvent.subject_id == subject_id)
    if since is not None:
        conditions.append(AuditEvent.created_at >= since)
    if until is not None:
        conditions.append(AuditEvent.created_at < until)
    return conditions


def list_audit_events(
    session: Session,
    org_id: uuid.UUID,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditEvent], int]:
    """Events matching the filters, newest first."""
    conditions = _audit_filters(
        org_id, action=action, actor_id=actor_id, subject_id=subject_id, since=since, until=until
    )
    if len(conditions) == 1:
        # The whole log. Its events are numbered 1 .. audit_seq without a gap (each one takes the
        # next number in the transaction that writes it, and none is ever removed), so the head's
        # number is the total and a page starts at a known number: no count of the log and no
        # OFFSET walking through it, however deep the page.
        head = session.scalar(select(Organization.audit_seq).where(Organization.id == org_id)) or 0
        top = head - (page - 1) * per_page
        if top < 1:
            return [], int(head)
        items = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.org_id == org_id, AuditEvent.seq <= top)
            .order_by(AuditEvent.seq.desc())
            .limit(per_page)
        ).all()
        return list(items), int(head)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    items = session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.seq.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(items), int(total)


def has_audit_events(session: Session, org_id: uuid.UUID, *, user_id: uuid.UUID) -> bool:
    """Whether any event of the organization names the user, as its actor or its subject."""
    for column in (AuditEvent.actor_id, AuditEvent.subject_id):
        found = session.scalar(
            select(AuditEvent.id).where(AuditEvent.org_id == org_id, column == user_id).limit(1)
        )
        if found is not None:
            return True
    return False


def iter_audit_events(
    session: Session,
    org_id: uuid.UUID,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch: int = 500,
) -> Iterator[AuditEvent]:
    """Every matching event, newest first, fetched in batches (for the CSV export)."""
    conditions = _audit_filters(
        org_id, action=action, actor_id=actor_id, subject_id=subject_id, since=since, until=until
    )
    last: int | None = None
    while True:
        query = select(AuditEvent).where(*conditions)
        if last is not None:
            query = query.where(AuditEvent.seq < last)
        rows = session.scalars(query.order_by(AuditEvent.seq.desc()).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def record_organization_created(session: Session, org: Organization, admin: User) -> AuditEvent:
    """The first event of a new organization's log: its name, plan and first administrator.
    ``roster org create`` and the demo record it in the transaction that creates the organization."""
    return record_event(
        session,
        org_id=org.id,
        action="organization.created",
        actor=None,
        subject=admin,
        details={"slug": org.slug, "name": org.name, "plan": org.plan},
    )
