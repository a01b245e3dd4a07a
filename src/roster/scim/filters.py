"""SCIM filters (RFC 7644 §3.4.2.2) translated to SQL.

scim2-models parses the filter into a syntax tree; a ``FilterVisitor`` turns each node into a
SQLAlchemy expression over the mapped columns, so the database does the filtering and the paging.
Every leaf is NULL-safe (never SQL NULL), so ``not (...)`` means what the client meant.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import Table, and_, exists, false, func, literal_column, not_, or_, select, true, union_all
from sqlalchemy.sql.elements import ColumnElement

from roster import clock
from roster.accounts.models import User
from roster.accounts.service import email_key
from roster.directory.models import Department, DepartmentMember
from roster.ids import parse_uuid
from roster.scim.schemas import CORE_GROUP, CORE_USER, ENTERPRISE_USER

MAX_FILTER_LENGTH = 4000

Expr = ColumnElement[bool]


class Kind:
    STRING = "string"  # compared case-insensitively with lower() on both sides
    KEY = "key"  # a stored casefolded key: the literal is casefolded in Python
    EXACT = "exact"  # caseExact strings
    BOOLEAN = "boolean"
    DATETIME = "dateTime"
    ID = "id"  # a resource id (UUID)


@dataclass(frozen=True)
class Attribute:
    """How one SCIM attribute reads in SQL."""

    kind: str
    column: Any  # a column expression; for IDs the UUID column
    # Builds the expression for a comparison itself (attributes that are not one column); it is
    # given the organization the filter runs in, when known, to spell conditions its indexes serve.
    custom: Callable[[CompareOperator, Any, uuid.UUID | None], Expr] | None = None
    present: Callable[[], Expr] | None = None


def _invalid(detail: str) -> InvalidFilterException:
    return InvalidFilterException(detail=detail)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string_compare(column: Any, op: CompareOperator, value: Any, kind: str) -> Expr:
    if not isinstance(value, str):
        if value is None and op in (CompareOperator.eq, CompareOperator.ne):
            absent = or_(column.is_(None), column == "")
            return absent if op is CompareOperator.eq else not_(absent)
        raise _invalid(f"The {op.value} operator needs a string value here.")
    if kind == Kind.KEY:
        left, right = column, email_key(value)
    elif kind == Kind.STRING:
        left, right = func.lower(column), value.lower()
    else:
        left, right = column, value
    present = column.is_not(None)
    if op is CompareOperator.eq:
        return and_(present, left == right)
    if op is CompareOperator.ne:
        return or_(column.is_(None), left != right)
    if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        escaped = _like_escape(right)
        pattern = {
            CompareOperator.co: f"%{escaped}%",
            CompareOperator.sw: f"{escaped}%",
            CompareOperator.ew: f"%{escaped}",
        }[op]
        matched = left.like(pattern, escape="\\")
        if kind == Kind.EXACT:
            # LIKE ignores ASCII case on SQLite: confirm with an exact comparison of the part.
            n = len(right)
            if op is CompareOperator.sw:
                matched = and_(matched, func.substr(left, 1, n) == right)
            elif op is CompareOperator.ew:
                matched = and_(matched, func.substr(left, func.length(left) - n + 1, n) == right)
        return and_(present, matched)
    comparison = {
        CompareOperator.gt: left > right,
        CompareOperator.ge: left >= right,
        CompareOperator.lt: left < right,
        CompareOperator.le: left <= right,
    }[op]
    return and_(present, comparison)


def _boolean_compare(column_is_true: Expr, op: CompareOperator, value: Any) -> Expr:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, bool):
        raise _invalid("A boolean attribute compares with true or false.")
    if op not in (CompareOperator.eq, CompareOperator.ne):
        raise _invalid(f"The {op.value} operator does not apply to a boolean attribute.")
    wanted = value if op is CompareOperator.eq else not value
    return column_is_true if wanted else not_(column_is_true)


def parse_datetime(value: Any) -> datetime:
    """A filter's dateTime literal (RFC 3339); naive times are UTC."""
    if not isinstance(value, str):
        raise _invalid("A dateTime attribute compares with a quoted RFC 3339 time.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _invalid(f"{value!r} is not an RFC 3339 time.") from None
    try:
        return clock.to_utc(moment)
    except ValueError as exc:
        raise _invalid(str(exc)) from None


def _datetime_compare(column: Any, op: CompareOperator, value: Any) -> Expr:
    if op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        raise _invalid(f"The {op.value} operator does not apply to a dateTime attribute.")
    moment = parse_datetime(value)
    present = column.is_not(None)
    if op is CompareOperator.ne:
        return or_(column.is_(None), column != moment)
    comparison = {
        CompareOperator.eq: column == moment,
        CompareOperator.gt: column > moment,
        CompareOperator.ge: column >= moment,
        CompareOperator.lt: column < moment,
        CompareOperator.le: column <= moment,
    }[op]
    return and_(present, comparison)


def parse_id(value: Any) -> uuid.UUID | None:
    """A resource id, or None when the text is not one of ours."""
    return parse_uuid(value)


def _id_compare(column: Any, op: CompareOperator, value: Any) -> Expr:
    if op not in (CompareOperator.eq, CompareOperator.ne):
        raise _invalid(f"The {op.value} operator does not apply to an id; use eq or ne.")
    wanted = parse_id(value)
    if wanted is None:
        return false() if op is CompareOperator.eq else true()
    return (
        and_(column.is_not(None), column == wanted)
        if op is CompareOperator.eq
        else or_(column.is_(None), column != wanted)
    )


def compare(attribute: Attribute, op: CompareOperator, value: Any, org_id: uuid.UUID | None = None) -> Expr:
    """The SQL for ``attribute op value`` (within ``org_id``'s people, when given)."""
    if attribute.custom is not None:
        return attribute.custom(op, value, org_id)
    if attribute.kind == Kind.BOOLEAN:
        return _boolean_compare(attribute.column, op, value)
    if attribute.kind == Kind.DATETIME:
        return _datetime_compare(attribute.column, op, value)
    if attribute.kind == Kind.ID:
        return _id_compare(attribute.column, op, value)
    return _string_compare(attribute.column, op, value, attribute.kind)


def presence(attribute: Attribute) -> Expr:
    """The SQL for ``attribute pr``."""
    if attribute.present is not None:
        return attribute.present()
    if attribute.kind == Kind.BOOLEAN:
        return true()
    column = attribute.column
    if attribute.kind in (Kind.STRING, Kind.KEY, Kind.EXACT):
        return and_(column.is_not(None), column != "")
    present: Expr = column.is_not(None)
    return present


# --- Users ---------------------------------------------------------------------------------------

USER_NAME_KEY = func.coalesce(User.scim_user_name_key, User.email_key)
# On the table rather than the mapped class (here and in ``named_ids``): a statement that names only
# tables skips the ORM's compile and loading steps in ``Session.execute`` (87 against 39 µs per
# statement here), and the statements a lookup runs are made of these.
USERS_TABLE: Table = User.__table__  # type: ignore[assignment]
# Written out rather than bound, so the database can match partial indexes "WHERE status != 'deleted'".
NOT_DELETED = USERS_TABLE.c.status != literal_column("'deleted'")
# The person looked up by userName, apart from the query's own rows. Made once: an alias proxies
# every column of the table, and making one per request was a third of a lookup's time.
_NAMED = USERS_TABLE.alias("named").c


def user_name_is(user_name: str, org_id: uuid.UUID) -> Expr:
    """The organization's people whose userName is ``user_name`` (any case): the SCIM key where
    there is one, else the email's key, each looked up on its unique index.

    Spelled as "id IN (one lookup on each index)". As an OR of the two columns (beside a listing's
    ORDER BY id, or alone) SQLite read every person of the organization (milliseconds at a few
    thousand people, growing with the organization); "not deleted" is written out because neither
    SQLite nor a generic PostgreSQL plan can match a bound parameter to the userName index's WHERE.
    """
    return User.id.in_(named_ids(org_id, email_key(user_name)))


def named_ids(org_id: Any, key: Any) -> Any:
    """The ids of ``user_name_is``: ``org_id`` and ``key`` (the userName's email key) are values,
    or ``bindparam``s for a statement that is made once."""
    named = _NAMED
    return union_all(
        select(named.id).where(
            named.org_id == org_id,
            named.scim_user_name_key == key,
            named.status != literal_column("'deleted'"),
        ),
        select(named.id).where(
            named.org_id == org_id, named.scim_user_name_key.is_(None), named.email_key == key
        ),
    )


# userName eq "..." and nothing else: what identity providers send before every create. Anything
# less plain (other spacing, escapes or control characters in the literal) is left to the parser.
_USER_NAME_EQUALS = re.compile(
    r' *(?:urn:ietf:params:scim:schemas:core:2\.0:User:)?userName +eq +"([^"\\\x00-\x1f]*)" *',
    re.IGNORECASE,
)


def user_name_equal_to(text: str) -> str | None:
    """The userName of a filter that is exactly ``userName eq "<name>"``, else None.

    Such a filter means ``user_name_is(name, ...)``, so a listing can answer it with a statement
    made once instead of parsing and translating the filter.
    """
    if len(text) > MAX_FILTER_LENGTH:
        return None
    matched = _USER_NAME_EQUALS.fullmatch(text)
    return matched.group(1) if matched else None


def _user_name_compare(op: CompareOperator, value: Any, org_id: uuid.UUID | None) -> Expr:
    if op is CompareOperator.eq and isinstance(value, str):
        if org_id is None:
            key = email_key(value)
            return or_(
                User.scim_user_name_key == key,
                and_(User.scim_user_name_key.is_(None), User.email_key == key),
            )
        return user_name_is(value, org_id)
    return _string_compare(USER_NAME_KEY, op, value, Kind.KEY)


def _membership(condition: Callable[[], Expr]) -> Expr:
    return exists().where(
        DepartmentMember.org_id == User.org_id,
        DepartmentMember.user_id == User.id,
        DepartmentMember.hidden_by.is_(None),
        condition(),
    )


def _groups_value_compare(op: CompareOperator, value: Any, _org_id: uuid.UUID | None) -> Expr:
    if op not in (CompareOperator.eq, CompareOperator.ne):
        raise _invalid("groups compares with eq or ne and a group id.")
    wanted = parse_id(value)
    matched = false() if wanted is None else _membership(lambda: DepartmentMember.department_id == wanted)
    return matched if op is CompareOperator.eq else not_(matched)


def _groups_display_compare(op: CompareOperator, value: Any, _org_id: uuid.UUID | None) -> Expr:
    def named() -> Expr:
        return exists().where(
            Department.org_id == DepartmentMember.org_id,
            Department.id == DepartmentMember.department_id,
            _string_compare(Department.name, op, value, Kind.STRING),
        )

    return _membership(named)


_EMAIL_TYPE = func.coalesce(User.scim_email_type, "work")
_HAS_EMAIL = User.email.is_not(None)

USER_ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(Kind.ID, User.id),
    "externalid": Attribute(Kind.EXACT, User.external_id),
    "username": Attribute(Kind.KEY, USER_NAME_KEY, custom=_user_name_compare),
    "displayname": Attribute(Kind.STRING, User.display_name),
    "name.givenname": Attribute(Kind.STRING, User.first_name),
    "name.familyname": Attribute(Kind.STRING, User.last_name),
    "name.formatted": Attribute(Kind.STRING, User.display_name),
    "title": Attribute(Kind.STRING, User.position),
    "timezone": Attribute(Kind.STRING, User.timezone),
    "active": Attribute(Kind.BOOLEAN, User.status == "active"),
    "emails": Attribute(Kind.KEY, User.email_key),
    "emails.value": Attribute(Kind.KEY, User.email_key),
    "emails.type": Attribute(Kind.STRING, _EMAIL_TYPE, present=lambda: _HAS_EMAIL),
    "meta.created": Attribute(Kind.DATETIME, User.created_at),
    "meta.lastmodified": Attribute(Kind.DATETIME, User.updated_at),
    "employeenumber": Attribute(Kind.STRING, User.employee_number),
    "department": Attribute(Kind.STRING, User.scim_department),
    "manager": Attribute(Kind.ID, User.manager_id),
    "manager.value": Attribute(Kind.ID, User.manager_id),
    "groups": Attribute(
        Kind.ID, None, custom=_groups_value_compare, present=lambda: _membership(lambda: true())
    ),
    "groups.value": Attribute(
        Kind.ID, None, custom=_groups_value_compare, present=lambda: _membership(lambda: true())
    ),
    "groups.display": Attribute(
        Kind.STRING, None, custom=_groups_display_compare, present=lambda: _membership(lambda: true())
    ),
}
ENTERPRISE_ATTRIBUTES = {"employeenumber", "department", "manager", "manager.value"}

# --- Groups (departments) ------------------------------------------------------------------------


def _members_compare(op: CompareOperator, value: Any, _org_id: uuid.UUID | None) -> Expr:
    if op not in (CompareOperator.eq, CompareOperator.ne):
        raise _invalid("members compares with eq or ne and a user id.")
    wanted = parse_id(value)
    matched = false() if wanted is None else _department_has(DepartmentMember.user_id == wanted)
    return matched if op is CompareOperator.eq else not_(matched)


def _department_has(condition: Expr) -> Expr:
    return exists().where(
        DepartmentMember.org_id == Department.org_id,
        DepartmentMember.department_id == Department.id,
        DepartmentMember.hidden_by.is_(None),
        exists().where(
            User.org_id == DepartmentMember.org_id,
            User.id == DepartmentMember.user_id,
            User.status != "deleted",
            User.is_system.is_(False),
        ),
        condition,
    )


def _display_name_compare(op: CompareOperator, value: Any, _org_id: uuid.UUID | None) -> Expr:
    if op is CompareOperator.eq and isinstance(value, str):
        from roster.directory.departments import department_name_key

        return Department.name_key == department_name_key(value)
    return _string_compare(Department.name, op, value, Kind.STRING)


GROUP_ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(Kind.ID, Department.id),
    "externalid": Attribute(Kind.EXACT, Department.external_id),
    "displayname": Attribute(Kind.STRING, Department.name, custom=_display_name_compare),
    "members": Attribute(Kind.ID, None, custom=_members_compare, present=lambda: _department_has(true())),
    "members.value": Attribute(
        Kind.ID, None, custom=_members_compare, present=lambda: _department_has(true())
    ),
    "meta.created": Attribute(Kind.DATETIME, Department.created_at),
    "meta.lastmodified": Attribute(Kind.DATETIME, Department.updated_at),
}


@dataclass(frozen=True)
class ResourceAttributes:
    attributes: dict[str, Attribute]
    core_urn: str
    extension_urn: str | None
    extension_attributes: frozenset[str]

    def lookup(self, path: AttrPath, prefix: str | None = None, *, use: str = "Filtering on") -> Attribute:
        """The attribute a path names (case-insensitive, with or without its schema URN); ``use``
        says what it was wanted for when there is none (``Filtering on``, ``Sorting by``)."""
        name = path.attr.lower()
        if path.sub_attr:
            name = f"{name}.{path.sub_attr.lower()}"
        if prefix:
            name = f"{prefix}.{name}"
        uri = (path.uri or "").lower()
        if uri:
            if uri == self.core_urn.lower():
                if name.split(".")[0] in self.extension_attributes:
                    raise _invalid(f"{path} is not an attribute of {self.core_urn}.")
            elif self.extension_urn is not None and uri == self.extension_urn.lower():
                if name.split(".")[0] not in self.extension_attributes:
                    raise _invalid(f"{path} is not an attribute of {self.extension_urn}.")
            else:
                raise _invalid(f"Unknown schema in {path}.")
        attribute = self.attributes.get(name)
        if attribute is None:
            raise _invalid(f"{use} {path} is not supported.")
        return attribute

    def order_column(self, path: AttrPath) -> Any:
        """The column to sort by for ``sortBy``."""
        attribute = self.lookup(path, use="Sorting by")
        if attribute.column is None or attribute.kind == Kind.BOOLEAN:
            raise _invalid(f"Sorting by {path} is not supported.")
        if attribute.kind == Kind.STRING:
            return func.lower(attribute.column)
        return attribute.column


USERS = ResourceAttributes(USER_ATTRIBUTES, CORE_USER, ENTERPRISE_USER, frozenset(ENTERPRISE_ATTRIBUTES))
GROUPS = ResourceAttributes(GROUP_ATTRIBUTES, CORE_GROUP, None, frozenset())


class SqlTranslator(FilterVisitor[Expr]):
    """Turns a parsed filter into one SQL boolean expression.

    ``lenient``: an attribute this resource type does not have is false rather than an error (a
    search across resource types, RFC 7644 §3.4.2.1)."""

    def __init__(
        self,
        resource: ResourceAttributes,
        prefix: str | None = None,
        *,
        lenient: bool = False,
        org_id: uuid.UUID | None = None,
    ) -> None:
        self.resource = resource
        self.prefix = prefix
        self.lenient = lenient
        self.org_id = org_id

    def _lookup(self, path: AttrPath) -> Attribute | None:
        try:
            return self.resource.lookup(path, self.prefix)
        except InvalidFilterException:
            if self.lenient:
                return None
            raise

    def visit_comparison(self, node: Comparison) -> Expr:
        attribute = self._lookup(node.attr_path)
        return false() if attribute is None else compare(attribute, node.op, node.value, self.org_id)

    def visit_present(self, node: Present) -> Expr:
        attribute = self._lookup(node.attr_path)
        return false() if attribute is None else presence(attribute)

    def visit_not(self, node: Not) -> Expr:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> Expr:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op is LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> Expr:
        if self.prefix is not None:
            raise _invalid("Value filters cannot be nested.")
        outer = node.attr_path
        if outer.sub_attr is not None:
            raise _invalid(f"{outer} cannot hold a value filter.")
        # Each multi-valued attribute Roster serves holds at most one value (one email) or is a
        # membership, so "some value matches" is the inner filter applied to that value.
        prefix = outer.attr.lower()
        if outer.uri:
            self.resource.lookup(AttrPath(attr=outer.attr, uri=outer.uri))
        inner = SqlTranslator(self.resource, prefix, lenient=self.lenient, org_id=self.org_id)
        condition = inner.visit(node.val_filter)
        if node.sub_attr is not None:
            raise _invalid("A filter cannot select a sub-attribute after a value filter.")
        return condition


_TRAILING_SUBATTR = re.compile(
    r"(?P<attr>[A-Za-z][\w$-]*)\[(?P<inner>[^\[\]]*)\]\.(?P<sub>[A-Za-z][\w$-]*)\s+"
    r"(?P<rest>(?:eq|ne|co|sw|ew|gt|ge|lt|le)\s+(?:\"(?:[^\"\\]|\\.)*\"|[^\s()]+)|pr)",
    re.IGNORECASE,
)


def _tolerate_subattribute_after_value_filter(text: str) -> str:
    """``emails[type eq "work"].value eq "x"`` (sent by some clients, outside the RFC grammar)
    means ``emails[type eq "work" and value eq "x"]``."""
    return _TRAILING_SUBATTR.sub(lambda m: f"{m['attr']}[({m['inner']}) and {m['sub']} {m['rest']}]", text)


def parse_filter(text: str) -> FilterNode:
    """Parse a filter; InvalidFilterException (400 invalidFilter) when it is not one."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _invalid(f"Filters are limited to {MAX_FILTER_LENGTH} characters.")
    try:
        return ScimFilter(text).ast
    except InvalidFilterException:
        rewritten = _tolerate_subattribute_after_value_filter(text)
        if rewritten == text:
            raise
        return ScimFilter(rewritten).ast
    except (ValueError, TypeError) as exc:
        raise _invalid(str(exc)) from None


def filter_to_sql(
    resource: ResourceAttributes, text: str, *, lenient: bool = False, org_id: uuid.UUID | None = None
) -> Expr:
    """The SQL condition for a SCIM filter over the resource's table (in ``org_id``, when given:
    the query is scoped to it anyway, and some conditions use its indexes better knowing it)."""
    return SqlTranslator(resource, lenient=lenient, org_id=org_id).visit(parse_filter(text))
