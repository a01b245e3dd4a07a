"""SCIM Users and Groups mapped onto Roster: every change goes through the lifecycle and directory
actions (provision, dismiss, rehire, delete; departments and their members).

Requests are read into plain dictionaries; PATCH applies its operations to the resource as SCIM
shows it and then replaces, so PUT and PATCH share one path into the actions. Errors are
scim2-models exceptions (``SCIMException``), which the API turns into SCIM error responses.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from scim2_models import (
    InvalidFilterException,
    InvalidPathException,
    InvalidSyntaxException,
    InvalidValueException,
    MutabilityException,
    NoTargetException,
    NotFoundException,
    Path,
    PreconditionFailedException,
    UniquenessException,
)
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import Executable, Result, Table, and_, bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.util.typing import TupleAny

from roster import etags
from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.db.prepared import Prepared
from roster.directory import departments as directory
from roster.directory.models import Department, DepartmentMember
from roster.domain import errors, timezones
from roster.domain.text import has_control_characters
from roster.domain.users import UserStatus
from roster.lifecycle.audit import record_event
from roster.lifecycle.deletion import delete_user
from roster.lifecycle.invitations import check_email_is_free
from roster.lifecycle.users import dismiss_user, provision_user, rehire_user
from roster.scim import filters
from roster.scim.schemas import (
    CORE_GROUP,
    CORE_USER,
    DEFAULT_COUNT,
    EMAIL_TYPES,
    ENTERPRISE_USER,
    LIST_RESPONSE,
    MAX_RESULTS,
    MAX_START_INDEX,
)
from roster.scim.tokens import LiveScimToken

_ENTERPRISE_KEY = ENTERPRISE_USER.lower()
_CORE_USER_KEY = CORE_USER.lower()
_CORE_GROUP_KEY = CORE_GROUP.lower()
MAX_MEMBERS_PER_REQUEST = 10_000


class Reads(Protocol):
    """What reading needs of the database: a Session, or for point reads a plain Connection.
    What is read through it comes back as rows and scalars, never as ORM objects."""

    def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None, /
    ) -> Result[*TupleAny]: ...

    def scalar(self, statement: Executable, parameters: Mapping[str, Any] | None = None, /) -> Any: ...


class ReadContext(Protocol):
    """A reading request of an identity provider: what it may read with, its organization, its
    token and the server's base URL. ``ScimContext`` is one; a point read's is ``PointReadContext``."""

    @property
    def reads(self) -> Reads: ...

    @property
    def org_id(self) -> uuid.UUID: ...

    @property
    def token(self) -> LiveScimToken: ...

    @property
    def base_url(self) -> str: ...


@dataclass
class ScimContext:
    """One request of an identity provider: its organization, token and the server's base URL."""

    session: Session
    org_id: uuid.UUID
    token: LiveScimToken
    base_url: str

    @property
    def reads(self) -> Reads:
        return self.session

    @property
    def details(self) -> dict[str, Any]:
        return {"via": "scim", "scim_token_id": str(self.token.id)}


@dataclass
class PointReadContext:
    """A point read's context (``roster.scim.api.scim_point_read``): a Connection, no Session."""

    reads: Reads
    org_id: uuid.UUID
    token: LiveScimToken
    base_url: str


# --- reading request bodies ----------------------------------------------------------------------


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Attribute names are case-insensitive (RFC 7643 §2.1)."""
    return {str(k).lower(): v for k, v in data.items()}


def _string(value: Any, name: str, *, max_length: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidValueException(detail=f"{name} must be a string.")
    text = str(value).strip()
    if len(text) > max_length:
        raise InvalidValueException(detail=f"{name} is limited to {max_length} characters.")
    if has_control_characters(text):
        # As the API refuses them in names and ids; PostgreSQL cannot even store NUL.
        raise InvalidValueException(detail=f"{name}: control characters are not allowed.")
    return text


def parse_boolean(value: Any, name: str) -> bool:
    """A SCIM boolean; identity providers also send "True" and "False" as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidValueException(detail=f"{name} must be true or false.")


@dataclass
class UserInput:
    user_name: str
    email: str
    email_type: str | None
    given_name: str
    family_name: str
    display_name: str | None
    title: str
    active: bool | None  # None: not said (a new person is active; an existing one stays as they are)
    external_id: str | None
    employee_number: str | None
    department: str | None
    manager_id: uuid.UUID | None
    timezone: str | None = None


def _pick_email(emails: Any) -> dict[str, Any] | None:
    if emails is None:
        return None
    if isinstance(emails, dict):
        emails = [emails]
    if not isinstance(emails, list):
        raise InvalidValueException(detail="emails must be a list.")
    items = [_lower_keys(e) for e in emails if isinstance(e, dict)]
    items = [e for e in items if e.get("value") not in (None, "")]
    if len(items) != len([e for e in emails if e not in (None, {})]):
        raise InvalidValueException(detail="Each email needs a value.")
    if not items:
        return None
    for item in items:
        if "primary" in item and item["primary"] is not None and parse_boolean(item["primary"], "primary"):
            return item
    for item in items:
        if str(item.get("type") or "").lower() == "work":
            return item
    return items[0]


def read_user(body: dict[str, Any]) -> UserInput:
    """The Roster fields of a SCIM User (create or replace); unknown and read-only ones are ignored."""
    data = _lower_keys(body)
    user_name = _string(data.get("username"), "userName", max_length=320)
    if not user_name:
        raise InvalidValueException(detail="userName is required.")
    name = data.get("name") or {}
    if not isinstance(name, dict):
        raise InvalidValueException(detail="name must be an object.")
    name = _lower_keys(name)
    email_item = _pick_email(data.get("emails"))
    if email_item is not None:
        email_value = _string(email_item.get("value"), "emails.value", max_length=320) or ""
        email_type = _string(email_item.get("type"), "emails.type", max_length=20)
    elif "@" in user_name:
        email_value, email_type = user_name, None
    else:
        raise InvalidValueException(
            detail="Roster needs an email address: send emails (or a userName that is an email address)."
        )
    try:
        email = accounts.normalize_email(email_value)
    except errors.InvalidEmail as exc:
        raise InvalidValueException(detail=f"{email_value!r} is not an email address: {exc.detail}") from None
    if email_type is not None:
        email_type = email_type.lower()
        if email_type not in EMAIL_TYPES:
            email_type = "other"
    extension = data.get(_ENTERPRISE_KEY) or {}
    if not isinstance(extension, dict):
        raise InvalidValueException(detail=f"{ENTERPRISE_USER} must be an object.")
    extension = _lower_keys(extension)
    manager = extension.get("manager")
    manager_id: uuid.UUID | None = None
    if isinstance(manager, dict):
        manager = _lower_keys(manager).get("value")
    if manager not in (None, ""):
        manager_id = filters.parse_id(manager)
        if manager_id is None:
            raise InvalidValueException(detail="manager.value must be the id of a User.")
    active = data.get("active")
    return UserInput(
        user_name=user_name,
        email=email,
        email_type=email_type,
        given_name=_string(name.get("givenname"), "name.givenName", max_length=100) or "",
        family_name=_string(name.get("familyname"), "name.familyName", max_length=100) or "",
        display_name=_string(data.get("displayname"), "displayName", max_length=200) or None,
        title=_string(data.get("title"), "title", max_length=200) or "",
        active=None if active is None else parse_boolean(active, "active"),
        external_id=_string(data.get("externalid"), "externalId", max_length=255) or None,
        employee_number=_string(extension.get("employeenumber"), "employeeNumber", max_length=100) or None,
        department=_string(extension.get("department"), "department", max_length=200) or None,
        manager_id=manager_id,
        timezone=_timezone(data.get("timezone")),
    )


def _timezone(value: Any) -> str | None:
    """RFC 7643's ``timezone``: an IANA name ("America/Los_Angeles"), written as Roster writes it."""
    text = _string(value, "timezone", max_length=timezones.MAX_LENGTH)
    if not text:
        return None
    try:
        return timezones.check_timezone(text)
    except errors.ValidationFailed:
        raise InvalidValueException(
            detail=f"timezone {text!r} is not an IANA time zone name, such as America/Los_Angeles."
        ) from None


# --- rendering -----------------------------------------------------------------------------------


def etag_of(resource: dict[str, Any]) -> str:
    """A weak ETag from the resource's content: it changes whenever anything shown changes."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def _iso(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


class ShownUser(Protocol):
    """What a SCIM User is rendered from: a ``User``, or a row of the ``users`` table (listings read
    rows, which skips building an ORM object per person)."""

    id: uuid.UUID
    external_id: str | None
    scim_user_name: str | None
    email: str | None
    first_name: str
    last_name: str
    display_name: str
    position: str
    status: str
    scim_email_type: str | None
    employee_number: str | None
    scim_department: str | None
    manager_id: uuid.UUID | None
    timezone: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def org_id(self) -> uuid.UUID: ...


@dataclass
class UserExtras:
    """What a User shows beyond its row: its departments and its manager's visibility."""

    groups: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    manager_visible: bool = False


_USERS = filters.USERS_TABLE
_members: Table = DepartmentMember.__table__  # type: ignore[assignment]
_departments: Table = Department.__table__  # type: ignore[assignment]


def _user_scope(org_id: Any) -> list[Any]:
    """The people SCIM shows of an organization (a value, or a bindparam)."""
    return [_USERS.c.org_id == org_id, _USERS.c.is_system.is_(False), filters.NOT_DELETED]


# Built once (every User a SCIM request shows runs it); ``ids`` expands to the page's user ids.
_DEPARTMENTS_OF_USERS = (
    select(_members.c.user_id, _departments.c.id, _departments.c.name)
    .join(
        _departments,
        and_(_departments.c.org_id == _members.c.org_id, _departments.c.id == _members.c.department_id),
    )
    .where(
        _members.c.org_id == bindparam("org_id"),
        _members.c.user_id.in_(bindparam("ids", expanding=True)),
        _members.c.hidden_by.is_(None),
    )
    .order_by(_members.c.user_id, _departments.c.name_key, _departments.c.id)
)
# Which of the managers named on a page a SCIM client may see (not deleted, not the System User).
_VISIBLE_USERS = select(_USERS.c.id).where(
    *_user_scope(bindparam("org_id")), _USERS.c.id.in_(bindparam("ids", expanding=True))
)


def load_user_extras(reads: Reads, users: Sequence[ShownUser]) -> dict[uuid.UUID, UserExtras]:
    """Departments and managers of a page of users, in two queries."""
    if not users:
        return {}
    org_id = users[0].org_id
    ids = [u.id for u in users]
    extras = {u.id: UserExtras() for u in users}
    rows = reads.execute(_DEPARTMENTS_OF_USERS, {"org_id": org_id, "ids": ids})
    for user_id, department_id, name in rows:
        extras[user_id].groups.append((department_id, name))
    manager_ids = {u.manager_id for u in users if u.manager_id is not None}
    visible: set[uuid.UUID] = set()
    if manager_ids:
        params = {"org_id": org_id, "ids": list(manager_ids)}
        visible = set(reads.execute(_VISIBLE_USERS, params).scalars())
    for user in users:
        extras[user.id].manager_visible = user.manager_id in visible
    return extras


def user_resource(ctx: ReadContext, user: ShownUser, extras: UserExtras) -> dict[str, Any]:
    """A Roster user as a SCIM User."""
    location = f"{ctx.base_url}/Users/{user.id}"
    resource: dict[str, Any] = {"schemas": [CORE_USER], "id": str(user.id)}
    if user.external_id:
        resource["externalId"] = user.external_id
    resource["userName"] = user.scim_user_name or user.email or str(user.id)
    name = {k: v for k, v in (("givenName", user.first_name), ("familyName", user.last_name)) if v}
    if name:
        resource["name"] = name
    if user.display_name:
        resource["displayName"] = user.display_name
    if user.position:
        resource["title"] = user.position
    if user.timezone:
        resource["timezone"] = user.timezone
    resource["active"] = user.status == UserStatus.ACTIVE.value
    if user.email:
        resource["emails"] = [{"value": user.email, "type": user.scim_email_type or "work"}]
    if extras.groups:
        resource["groups"] = [
            {"value": str(gid), "$ref": f"{ctx.base_url}/Groups/{gid}", "display": gname}
            for gid, gname in extras.groups
        ]
    extension: dict[str, Any] = {}
    if user.employee_number:
        extension["employeeNumber"] = user.employee_number
    if user.scim_department:
        extension["department"] = user.scim_department
    if user.manager_id is not None and extras.manager_visible:
        extension["manager"] = {
            "value": str(user.manager_id),
            "$ref": f"{ctx.base_url}/Users/{user.manager_id}",
        }
    if extension:
        resource["schemas"].append(ENTERPRISE_USER)
        resource[ENTERPRISE_USER] = extension
    resource["meta"] = {
        "resourceType": "User",
        "created": _iso(user.created_at),
        "lastModified": _iso(user.updated_at),
        "location": location,
    }
    resource["meta"]["version"] = etag_of(resource)
    return resource


def render_user(ctx: ScimContext, user: User) -> dict[str, Any]:
    """One user, with its departments and manager."""
    return user_resource(ctx, user, load_user_extras(ctx.session, [user])[user.id])


def render_new_user(ctx: ScimContext, user: User) -> dict[str, Any]:
    """A user ``create_user`` just made, rendered without ``render_user``'s queries: they belong to
    no department yet, and the manager they name was just checked to be one this client may see."""
    return user_resource(ctx, user, UserExtras(manager_visible=user.manager_id is not None))


def group_resource(
    ctx: ScimContext, department: Department, members: list[tuple[uuid.UUID, str]] | None
) -> dict[str, Any]:
    """A department as a SCIM Group. ``members`` None: they were not read (a listing that leaves
    them out), so the resource carries no ``meta.version``: the version is of the whole group, and
    one made without its members would not match the group's ETag (RFC 7643 §3.1 makes it
    optional)."""
    resource: dict[str, Any] = {"schemas": [CORE_GROUP], "id": str(department.id)}
    if department.external_id:
        resource["externalId"] = department.external_id
    resource["displayName"] = department.name
    if members:
        resource["members"] = [
            {"value": str(uid), "$ref": f"{ctx.base_url}/Users/{uid}", "type": "User"}
            for uid, _name in members
        ]
    resource["meta"] = {
        "resourceType": "Group",
        "created": _iso(department.created_at),
        "lastModified": _iso(department.updated_at),
        "location": f"{ctx.base_url}/Groups/{department.id}",
    }
    if members is not None:
        resource["meta"]["version"] = etag_of(resource)
    return resource


def load_group_members(
    session: Session, departments: Sequence[Department]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, str]]]:
    """Members (not deleted, not the System User) of a page of departments, in one query."""
    if not departments:
        return {}
    org_id = departments[0].org_id
    found: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {d.id: [] for d in departments}
    rows = session.execute(
        select(DepartmentMember.department_id, User.id, User.display_name)
        .join(User, and_(User.org_id == DepartmentMember.org_id, User.id == DepartmentMember.user_id))
        .where(
            DepartmentMember.org_id == org_id,
            DepartmentMember.department_id.in_(list(found)),
            DepartmentMember.hidden_by.is_(None),
            User.status != UserStatus.DELETED.value,
            User.is_system.is_(False),
        )
        .order_by(DepartmentMember.department_id, User.id)
    )
    for department_id, user_id, name in rows:
        found[department_id].append((user_id, name))
    return found


def render_group(ctx: ScimContext, department: Department) -> dict[str, Any]:
    """One department with its members."""
    return group_resource(ctx, department, load_group_members(ctx.session, [department])[department.id])


# --- attributes and excludedAttributes -----------------------------------------------------------

_ALWAYS = {"id", "schemas", "meta"}


def _split_attribute(name: str, core_urn: str) -> tuple[str | None, str, str | None]:
    """(extension urn or None, attribute, sub-attribute) of an attribute name, lower-cased."""
    text = name.strip()
    lowered = text.lower()
    urn = None
    if lowered.startswith(_ENTERPRISE_KEY):
        urn, text = ENTERPRISE_USER, text[len(_ENTERPRISE_KEY) :].lstrip(":")
    elif lowered.startswith(core_urn.lower()):
        text = text[len(core_urn) :].lstrip(":")
    if not text:
        return urn, "", None
    attr, _, sub = text.partition(".")
    return urn, attr.lower(), sub.lower() or None


def _project(resource: dict[str, Any], names: list[str], *, include: bool, core_urn: str) -> dict[str, Any]:
    wanted: dict[tuple[str | None, str], set[str] | None] = {}
    for name in names:
        urn, attr, sub = _split_attribute(name, core_urn)
        key = (urn, attr)
        if sub is None:
            wanted[key] = None
        elif key not in wanted or wanted[key] is not None:
            subs = wanted.setdefault(key, set())
            if subs is not None:
                subs.add(sub)

    def pick(container: dict[str, Any], urn: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, value in container.items():
            if urn is None and (attr in _ALWAYS or attr.lower() == _ENTERPRISE_KEY):
                continue
            key = (urn, attr.lower())
            listed = key in wanted
            if include and not listed:
                continue
            subs = wanted.get(key)
            if listed and subs is not None and isinstance(value, dict | list):
                value = _pick_subs(value, subs, include=include)
            elif listed and not include:
                continue
            out[attr] = value
        return out

    projected: dict[str, Any] = {k: resource[k] for k in ("schemas", "id") if k in resource}
    projected.update(pick(resource, None))
    extension = resource.get(ENTERPRISE_USER)
    if isinstance(extension, dict):
        if include and (ENTERPRISE_USER, "") in wanted:
            picked = dict(extension)
        else:
            picked = pick(extension, ENTERPRISE_USER)
            if not include and (ENTERPRISE_USER, "") in wanted:
                picked = {}
        if picked:
            projected[ENTERPRISE_USER] = picked
    if "meta" in resource:
        projected["meta"] = resource["meta"]
    return projected


def _pick_subs(value: Any, subs: set[str], *, include: bool) -> Any:
    def one(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        return {k: v for k, v in item.items() if (k.lower() in subs) == include}

    if isinstance(value, list):
        return [one(v) for v in value]
    return one(value)


def project(
    resource: dict[str, Any], attributes: list[str] | None, excluded: list[str] | None, *, core_urn: str
) -> dict[str, Any]:
    """The resource with only ``attributes`` (plus id, schemas, meta), or without ``excluded``."""
    if attributes:
        return _project(resource, attributes, include=True, core_urn=core_urn)
    if excluded:
        return _project(resource, excluded, include=False, core_urn=core_urn)
    return resource


def split_attribute_list(value: Any) -> list[str] | None:
    """``attributes=a,b`` in a query, or a list in a search body."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value if v.strip()]
    else:
        raise InvalidValueException(detail="attributes must be a comma-separated list of names.")
    return items or None


# --- listing -------------------------------------------------------------------------------------


@dataclass
class ListQuery:
    filter: str | None = None
    start_index: int = 1
    count: int = DEFAULT_COUNT
    sort_by: str | None = None
    descending: bool = False
    attributes: list[str] | None = None
    excluded_attributes: list[str] | None = None


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidValueException(detail=f"{name} must be an integer.")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidValueException(detail=f"{name} must be an integer.") from None


def read_list_query(params: dict[str, Any]) -> ListQuery:
    """List parameters from a query string or a SearchRequest body (names case-insensitive)."""
    data = _lower_keys(params)
    query = ListQuery()
    if data.get("filter") not in (None, ""):
        if not isinstance(data["filter"], str):
            raise InvalidFilterException(detail="filter must be a string.")
        query.filter = data["filter"]
    if data.get("startindex") not in (None, ""):
        query.start_index = min(MAX_START_INDEX, max(1, _integer(data["startindex"], "startIndex")))
    if data.get("count") not in (None, ""):
        query.count = min(MAX_RESULTS, max(0, _integer(data["count"], "count")))
    if data.get("sortby") not in (None, ""):
        if not isinstance(data["sortby"], str):
            raise InvalidValueException(detail="sortBy must be an attribute name.")
        query.sort_by = data["sortby"]
    order = data.get("sortorder")
    if order not in (None, ""):
        if not isinstance(order, str) or order.lower() not in ("ascending", "descending"):
            raise InvalidValueException(detail="sortOrder is ascending or descending.")
        query.descending = order.lower() == "descending"
    query.attributes = split_attribute_list(data.get("attributes"))
    query.excluded_attributes = split_attribute_list(data.get("excludedattributes"))
    return query


def _sort_path(text: str) -> AttrPath:
    try:
        node = Path(text).ast
    except Exception:
        raise InvalidValueException(detail=f"Cannot sort by {text!r}.") from None
    if not isinstance(node, AttrPath):
        raise InvalidValueException(detail=f"Cannot sort by {text!r}.")
    return node


def _ordering(resource: filters.ResourceAttributes, query: ListQuery, id_column: Any) -> list[Any]:
    order: list[Any] = []
    if query.sort_by:
        try:
            column = resource.order_column(_sort_path(query.sort_by))
        except InvalidFilterException as exc:
            raise InvalidValueException(detail=exc.detail) from None
        order.append(column.desc() if query.descending else column.asc())
    order.append(id_column.desc() if query.descending and query.sort_by else id_column.asc())
    return order


def list_response(resources: list[dict[str, Any]], total: int, query: ListQuery) -> dict[str, Any]:
    """A ListResponse message."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _named_in_org() -> list[Any]:
    """``_user_scope`` and ``userName eq :key``, bound: for the statements below, made once."""
    org_id: Any = bindparam("org_id")
    return [*_user_scope(org_id), _USERS.c.id.in_(filters.named_ids(org_id, bindparam("key")))]


# A page of ``userName eq :key`` (in ``_user_page``'s order) and whether a userName is taken. Like
# the other statements made once here, on tables only (``filters.USERS_TABLE`` says why).
_USERS_NAMED = (
    select(_USERS)
    .where(*_named_in_org())
    .order_by(_USERS.c.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_USER_NAME_TAKEN = Prepared(select(_USERS.c.id).where(*_named_in_org()).limit(1))
_USER_NAME_TAKEN_BY_OTHER = Prepared(
    select(_USERS.c.id).where(*_named_in_org(), _USERS.c.id != bindparam("except_id")).limit(1)
)


# One person a SCIM client may see, by id: of the organization, not deleted, not the System User.
_SHOWN_USER = select(_USERS).where(*_user_scope(bindparam("org_id")), _USERS.c.id == bindparam("id"))


def shown_user(ctx: ReadContext, user_id: str) -> dict[str, Any]:
    """GET /Users/{id}: the User as ``render_user`` shows it, read as a row (``_user_scope``'s
    rules); NotFound otherwise."""
    wanted = filters.parse_id(user_id)
    row = ctx.reads.execute(_SHOWN_USER, {"org_id": ctx.org_id, "id": wanted}).first() if wanted else None
    if row is None:
        raise NotFoundException(detail=f"User {user_id} not found.")
    shown: ShownUser = row  # type: ignore[assignment]
    return user_resource(ctx, shown, load_user_extras(ctx.reads, [shown])[shown.id])


def _user_where(ctx: ReadContext, query: ListQuery) -> list[Any]:
    where = _user_scope(ctx.org_id)
    if query.filter:
        where.append(filters.filter_to_sql(filters.USERS, query.filter, org_id=ctx.org_id))
    return where


def _group_where(ctx: ScimContext, query: ListQuery) -> list[Any]:
    where: list[Any] = [Department.org_id == ctx.org_id]
    if query.filter:
        where.append(filters.filter_to_sql(filters.GROUPS, query.filter, org_id=ctx.org_id))
    return where


def _user_page(
    ctx: ReadContext, where: list[Any], query: ListQuery, offset: int, limit: int
) -> list[dict[str, Any]]:
    if limit <= 0:
        return []
    users = ctx.reads.execute(
        select(_USERS)
        .where(*where)
        .order_by(*_ordering(filters.USERS, query, User.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return _render_users(ctx, users, query)


def _render_users(ctx: ReadContext, users: Sequence[ShownUser], query: ListQuery) -> list[dict[str, Any]]:
    extras = load_user_extras(ctx.reads, users)
    return [
        project(
            user_resource(ctx, u, extras[u.id]),
            query.attributes,
            query.excluded_attributes,
            core_urn=CORE_USER,
        )
        for u in users
    ]


def _group_page(
    ctx: ScimContext, where: list[Any], query: ListQuery, offset: int, limit: int
) -> list[dict[str, Any]]:
    if limit <= 0:
        return []
    found = list(
        ctx.session.scalars(
            select(Department)
            .where(*where)
            .order_by(*_ordering(filters.GROUPS, query, Department.id))
            .offset(offset)
            .limit(limit)
        )
    )
    excluded = [a.lower() for a in (query.excluded_attributes or [])]
    wanted = [a.lower() for a in (query.attributes or [])]
    skip_members = "members" in excluded or (
        bool(wanted) and not any(a.startswith("members") for a in wanted)
    )
    members: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] | None = (
        None if skip_members else load_group_members(ctx.session, found)
    )
    return [
        project(
            group_resource(ctx, d, None if members is None else members[d.id]),
            query.attributes,
            query.excluded_attributes,
            core_urn=CORE_GROUP,
        )
        for d in found
    ]


def _count(ctx: ReadContext, model: Any, where: list[Any]) -> int:
    return int(ctx.reads.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _total(ctx: ReadContext, model: Any, where: list[Any], query: ListQuery, found: int) -> int:
    """The number of matches; a short page already tells it (a lookup then costs one query)."""
    total = _total_of_page(query, found)
    return _count(ctx, model, where) if total is None else total


def _total_of_page(query: ListQuery, found: int) -> int | None:
    """The number of matches when a page of ``found`` tells it: it is short, and not past the end."""
    offset = query.start_index - 1
    if query.count > 0 and found < query.count and (offset == 0 or found > 0):
        return offset + found
    return None


def list_users(ctx: ReadContext, query: ListQuery) -> dict[str, Any]:
    """A page of users matching the filter (deleted people and the System User never appear)."""
    named = filters.user_name_equal_to(query.filter) if query.filter and not query.sort_by else None
    if named is not None and query.count > 0:
        # An identity provider's lookup before a create: a statement made once, and the page
        # tells the total unless it is full.
        found = ctx.reads.execute(
            _USERS_NAMED,
            {
                "org_id": ctx.org_id,
                "key": accounts.email_key(named),
                "offset": query.start_index - 1,
                "limit": query.count,
            },
        ).all()
        page = _render_users(ctx, found, query)
        total = _total_of_page(query, len(page))
        if total is None:
            total = _count(ctx, User, _user_where(ctx, query))
        return list_response(page, total, query)
    where = _user_where(ctx, query)
    page = _user_page(ctx, where, query, query.start_index - 1, query.count)
    return list_response(page, _total(ctx, User, where, query, len(page)), query)


def list_groups(ctx: ScimContext, query: ListQuery) -> dict[str, Any]:
    """A page of departments matching the filter."""
    where = _group_where(ctx, query)
    page = _group_page(ctx, where, query, query.start_index - 1, query.count)
    return list_response(page, _total(ctx, Department, where, query, len(page)), query)


def search_all(ctx: ScimContext, query: ListQuery) -> dict[str, Any]:
    """A search at the server root: Users, then Groups. A filter naming an attribute one of the
    types lacks is false for that type (RFC 7644 §3.4.2.1); unknown to both, it is refused."""
    strict_failures: list[InvalidFilterException] = []
    kinds: list[tuple[Any, list[Any], Any]] = []
    for model, resource, scope, page in (
        (User, filters.USERS, _user_scope(ctx.org_id), _user_page),
        (Department, filters.GROUPS, [Department.org_id == ctx.org_id], _group_page),
    ):
        where = list(scope)
        if query.filter:
            try:
                where.append(filters.filter_to_sql(resource, query.filter, org_id=ctx.org_id))
            except InvalidFilterException as exc:
                strict_failures.append(exc)
                where.append(filters.filter_to_sql(resource, query.filter, lenient=True, org_id=ctx.org_id))
        kinds.append((model, where, page))
    if len(strict_failures) == len(kinds):
        raise strict_failures[0]
    offset, remaining, total = query.start_index - 1, query.count, 0
    resources: list[dict[str, Any]] = []
    for model, where, page in kinds:
        count = _count(ctx, model, where)
        total += count
        if remaining > 0 and offset < count:
            found = page(ctx, where, query, offset, remaining)
            resources.extend(found)
            remaining -= len(found)
        offset = max(0, offset - count)
    return list_response(resources, total, query)


# --- users ---------------------------------------------------------------------------------------


def get_scim_user(ctx: ScimContext, user_id: str) -> User:
    """A user this token may see: of its organization, not deleted, not the System User."""
    wanted = filters.parse_id(user_id)
    found = select(User).where(*_user_scope(ctx.org_id), User.id == wanted)
    user = ctx.session.scalars(found).first() if wanted else None
    if user is None:
        raise NotFoundException(detail=f"User {user_id} not found.")
    return user


def _check_user_name_free(ctx: ScimContext, user_name: str, *, except_id: uuid.UUID | None) -> None:
    params = {"org_id": ctx.org_id, "key": accounts.email_key(user_name), "except_id": except_id}
    statement = _USER_NAME_TAKEN if except_id is None else _USER_NAME_TAKEN_BY_OTHER
    taken = statement.execute(ctx.session, params).scalar()
    if taken is not None:
        raise UniquenessException(detail=f"The userName {user_name!r} is taken.")


def _check_manager(ctx: ScimContext, user: User | None, manager_id: uuid.UUID | None) -> None:
    if manager_id is None:
        return
    if user is not None and manager_id == user.id:
        raise InvalidValueException(detail="A user cannot be their own manager.")
    visible = ctx.session.scalar(_VISIBLE_USERS, {"org_id": ctx.org_id, "ids": [manager_id]})
    if visible is None:
        raise InvalidValueException(detail=f"The manager {manager_id} is not a User of this organization.")


def _scim_profile(data: UserInput) -> dict[str, Any]:
    """The attributes SCIM owns beyond a person's name, email and title."""
    return {
        "display_name": data.display_name
        or accounts.compose_display_name(data.given_name, data.family_name, data.email.split("@")[0]),
        "scim_user_name": data.user_name,
        "scim_user_name_key": accounts.email_key(data.user_name),
        "scim_email_type": data.email_type,
        "external_id": data.external_id,
        "employee_number": data.employee_number,
        "manager_id": data.manager_id,
        "scim_department": data.department,
        "timezone": data.timezone,
    }


def _apply_fields(ctx: ScimContext, user: User, data: UserInput, *, created: bool) -> None:
    """Write the profile fields SCIM owns (names, title, email, ids, manager, department)."""
    changed: list[str] = []

    def put(attr: str, value: Any) -> None:
        if getattr(user, attr) != value:
            setattr(user, attr, value)
            changed.append(attr)

    if not created and accounts.email_key(data.email) != user.email_key:
        check_email_is_free(ctx.session, ctx.org_id, accounts.email_key(data.email))
        put("email_key", accounts.email_key(data.email))
    if user.email != data.email:
        put("email", data.email)
    put("first_name", data.given_name)
    put("last_name", data.family_name)
    put("position", data.title)
    for attr, value in _scim_profile(data).items():
        put(attr, value)
    ctx.session.flush()
    if changed and not created:
        record_event(
            ctx.session,
            org_id=ctx.org_id,
            action="user.updated",
            actor=None,
            subject=user,
            details={**ctx.details, "fields": sorted(set(changed) - {"email_key", "scim_user_name_key"})},
        )


def _set_active(ctx: ScimContext, user: User, active: bool) -> User:
    if active and user.status != UserStatus.ACTIVE.value:
        return rehire_user(ctx.session, user, actor=None, details=ctx.details)
    if not active and user.status == UserStatus.ACTIVE.value:
        return dismiss_user(
            ctx.session, user, actor=None, reason="Deactivated by the identity provider (SCIM)."
        )
    return user


def create_user(ctx: ScimContext, body: dict[str, Any]) -> User:
    """Provision a person (takes a seat); ``active: false`` creates them dismissed (taking none)."""
    data = read_user(body)
    _check_user_name_free(ctx, data.user_name, except_id=None)
    _check_manager(ctx, None, data.manager_id)
    try:
        user = provision_user(
            ctx.session,
            ctx.org_id,
            actor=None,
            email=data.email,
            first_name=data.given_name,
            last_name=data.family_name,
            position=data.title,
            via="scim",
            details={"scim_token_id": str(ctx.token.id)},
            profile=_scim_profile(data),
            active=data.active is not False,
        )
    except errors.EmailInUse as exc:
        raise UniquenessException(detail=f"The email {data.email} is in use: {exc.detail}") from None
    except errors.EmailBelongsToDismissedUser as exc:
        raise UniquenessException(
            detail=f"The email {data.email} belongs to a dismissed user ({exc.extra.get('user_id')}); "
            "match that user and set active to true to rehire them."
        ) from None
    _apply_fields(ctx, user, data, created=True)
    return user


def replace_user(ctx: ScimContext, user: User, body: dict[str, Any]) -> User:
    """PUT: the resource becomes the body (absent optional attributes are cleared; an absent
    ``active`` leaves the person active or dismissed as they are)."""
    data = read_user(body)
    _check_id_unchanged(body, user.id)
    if accounts.email_key(data.user_name) != (user.scim_user_name_key or user.email_key):
        _check_user_name_free(ctx, data.user_name, except_id=user.id)
    _check_manager(ctx, user, data.manager_id)
    try:
        _apply_fields(ctx, user, data, created=False)
    except (errors.EmailInUse, errors.EmailBelongsToDismissedUser) as exc:
        raise UniquenessException(detail=f"The email {data.email} is in use: {exc.detail}") from None
    # Only an explicit active rehires or dismisses: a replacement that leaves it out (or a PATCH
    # that removes it) must not give a dismissed person their seat and sign-in back.
    return user if data.active is None else _set_active(ctx, user, data.active)


def _check_id_unchanged(body: dict[str, Any], resource_id: uuid.UUID) -> None:
    sent = _lower_keys(body).get("id")
    if sent not in (None, "") and str(sent) != str(resource_id):
        raise MutabilityException(detail="id is read-only and cannot change.")


def patch_user(ctx: ScimContext, user: User, body: dict[str, Any]) -> User:
    """PATCH: the operations are applied to the User as SCIM shows it, then it is replaced."""
    operations = read_patch(body)
    resource = render_user(ctx, user)
    if accounts.display_name_follows_name(user.display_name, user.first_name, user.last_name, user.email):
        # Composed from the name, it follows the name: left out, it is composed again from the
        # name the operations leave (unless they set a displayName themselves).
        resource.pop("displayName", None)
    # Roster keeps one address, so it is the primary one: an added value marked primary replaces
    # it (RFC 7644 §3.5.2: the others' primary turns false), an added value that is not primary
    # is not kept, and emails[primary eq true] finds it.
    for item in resource.get("emails") or []:
        item["primary"] = True
    for operation in operations:
        apply_operation(resource, operation, core_urn=CORE_USER, extension_urn=ENTERPRISE_USER)
    return replace_user(ctx, user, resource)


def forget_scim_identity(user: User) -> None:
    """Clear what an identity provider told about a person (for erasure: these can be personal)."""
    user.scim_user_name = None
    user.scim_user_name_key = None
    user.scim_email_type = None
    user.external_id = None
    user.employee_number = None
    user.scim_department = None
    user.manager_id = None
    user.timezone = None


def delete_scim_user(ctx: ScimContext, user: User) -> None:
    """DELETE: the lifecycle's delete with the default disposition (restorable)."""
    delete_user(ctx.session, user, actor=None, confirm=user.email or str(user.id))


# --- PATCH ---------------------------------------------------------------------------------------


@dataclass
class Operation:
    op: str  # add | replace | remove
    path: str | None
    value: Any


def read_patch(body: dict[str, Any]) -> list[Operation]:
    """The operations of a PatchOp message; op names in any letter case."""
    data = _lower_keys(body)
    operations = data.get("operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntaxException(detail="A PatchOp needs a non-empty Operations list.")
    result = []
    for raw in operations:
        if not isinstance(raw, dict):
            raise InvalidSyntaxException(detail="Each operation must be an object.")
        item = _lower_keys(raw)
        op = item.get("op")
        if op is None:
            raise InvalidSyntaxException(detail="Each operation needs an op: add, replace or remove.")
        if not isinstance(op, str) or op.lower() not in ("add", "replace", "remove"):
            raise InvalidSyntaxException(detail=f"Unknown PATCH op {op!r}; use add, replace or remove.")
        path = item.get("path")
        if path is not None and not isinstance(path, str):
            raise InvalidPathException(detail="path must be a string.")
        path = path.strip() if path else None
        if op.lower() == "remove" and not path:
            raise NoTargetException(detail="remove needs a path.")
        if op.lower() != "remove" and "value" not in item:
            raise InvalidSyntaxException(detail=f"{op} needs a value.")
        result.append(Operation(op=op.lower(), path=path or None, value=item.get("value")))
    return result


def _find_key(container: dict[str, Any], name: str) -> str:
    """The key under which ``name`` (case-insensitive) is stored, or ``name`` itself."""
    lowered = name.lower()
    for key in container:
        if key.lower() == lowered:
            return key
    return name


def _matches(item: Any, node: FilterNode) -> bool:
    """An in-memory test of a value filter against one value of a multi-valued attribute."""
    if isinstance(node, LogicalExpr):
        results = (_matches(item, term) for term in node.terms)
        return all(results) if node.op is LogicalOperator.and_ else any(results)
    if isinstance(node, Not):
        return not _matches(item, node.expr)
    if not isinstance(item, dict):
        item = {"value": item}
    if isinstance(node, Present):
        value = item.get(_find_key(item, node.attr_path.attr))
        return value not in (None, "", [])
    if isinstance(node, Comparison):
        value = item.get(_find_key(item, node.attr_path.attr))
        return _compare_values(value, node.op, node.value)
    raise InvalidFilterException(detail="Unsupported value filter.")


def _compare_values(actual: Any, op: CompareOperator, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        try:
            left = parse_boolean(actual, "value") if actual is not None else None
            right = parse_boolean(expected, "value")
        except InvalidValueException:
            return False
        if op is CompareOperator.eq:
            return left == right
        if op is CompareOperator.ne:
            return left != right
        return False
    if actual is None:
        return op is CompareOperator.ne
    a, e = str(actual).casefold(), str(expected).casefold()
    return {
        CompareOperator.eq: a == e,
        CompareOperator.ne: a != e,
        CompareOperator.co: e in a,
        CompareOperator.sw: a.startswith(e),
        CompareOperator.ew: a.endswith(e),
        CompareOperator.gt: a > e,
        CompareOperator.ge: a >= e,
        CompareOperator.lt: a < e,
        CompareOperator.le: a <= e,
    }[op]


def _template_from_filter(node: FilterNode) -> dict[str, Any]:
    """The value a filter like ``type eq "work"`` describes, for an add that matched nothing."""
    if isinstance(node, Comparison) and node.op is CompareOperator.eq:
        return {node.attr_path.attr: node.value}
    if isinstance(node, LogicalExpr) and node.op is LogicalOperator.and_:
        merged: dict[str, Any] = {}
        for term in node.terms:
            merged.update(_template_from_filter(term))
        return merged
    return {}


@dataclass
class Target:
    container: dict[str, Any]
    attr: str
    sub_attr: str | None
    value_filter: FilterNode | None


def _resolve_target(
    resource: dict[str, Any], path: str, *, core_urn: str, extension_urn: str | None
) -> Target | None:
    """Where a PATCH path points; None for a bare extension URN (the extension object itself)."""
    if extension_urn is not None and path.lower() == extension_urn.lower():
        return None
    try:
        node = Path(path).ast
    except Exception:
        raise InvalidPathException(detail=f"{path!r} is not a valid path.") from None
    value_filter: FilterNode | None = None
    if isinstance(node, ValuePath):
        attr_path, value_filter, sub_attr = node.attr_path, node.val_filter, node.sub_attr
    elif isinstance(node, AttrPath):
        attr_path, sub_attr = node, node.sub_attr
    else:
        raise InvalidPathException(detail=f"{path!r} is not a path to an attribute.")
    uri = (attr_path.uri or "").lower()
    container = resource
    if uri and uri == (extension_urn or "").lower():
        key = _find_key(resource, extension_urn or "")
        extension = resource.get(key)
        if not isinstance(extension, dict):
            extension = {}
            resource[key] = extension
        container = extension
    elif uri and uri != core_urn.lower():
        raise InvalidPathException(detail=f"Unknown schema in path {path!r}.")
    return Target(container, attr_path.attr, sub_attr, value_filter)


def _merge_extension(resource: dict[str, Any], extension_urn: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"The value for {extension_urn} must be an object.")
    key = _find_key(resource, extension_urn)
    extension = resource.get(key)
    if not isinstance(extension, dict):
        extension = {}
        resource[key] = extension
    for name, item in value.items():
        extension[_find_key(extension, name)] = item


def _set_attribute(container: dict[str, Any], attr: str, value: Any, *, add: bool) -> None:
    key = _find_key(container, attr)
    current = container.get(key)
    if add and isinstance(current, list):
        new = value if isinstance(value, list) else [value]
        merged = list(current)
        for item in new:
            if item not in merged:
                merged.append(item)
        container[key] = _one_primary(merged, [item for item in new if _is_primary(item)])
    elif isinstance(current, dict) and isinstance(value, dict):
        # add and replace alike: "sub-attributes that are not specified in the value parameter are
        # left unchanged" (RFC 7644 §3.5.2.1 and §3.5.2.3); remove one with its own path.
        for name, item in value.items():
            current[_find_key(current, name)] = item
    else:
        container[key] = value


def apply_operation(
    resource: dict[str, Any], operation: Operation, *, core_urn: str, extension_urn: str | None
) -> None:
    """Apply one PATCH operation to a resource dictionary (RFC 7644 §3.5.2)."""
    op, value = operation.op, operation.value
    if operation.path is None:
        if not isinstance(value, dict):
            raise InvalidValueException(detail=f"{op} without a path needs an object value.")
        for name, item in value.items():
            lowered = str(name).lower()
            if extension_urn is not None and lowered == extension_urn.lower():
                _merge_extension(resource, extension_urn, item)
            elif lowered in ("id", "schemas", "meta"):
                continue
            elif "." in name or ":" in name or "[" in name:
                # Entra ID sends {"name.givenName": "x"} and URN-qualified names without a path.
                apply_operation(
                    resource, Operation(op, name, item), core_urn=core_urn, extension_urn=extension_urn
                )
            else:
                _set_attribute(resource, name, item, add=op == "add")
        return
    target = _resolve_target(resource, operation.path, core_urn=core_urn, extension_urn=extension_urn)
    if target is None:
        if op == "remove":
            resource.pop(_find_key(resource, extension_urn or ""), None)
        else:
            _merge_extension(resource, extension_urn or "", value)
        return
    key = _find_key(target.container, target.attr)
    if target.value_filter is not None:
        items = target.container.get(key)
        items = list(items) if isinstance(items, list) else []
        matched = [i for i, item in enumerate(items) if _matches(item, target.value_filter)]
        if op == "remove":
            if target.sub_attr is None:
                items = [item for i, item in enumerate(items) if i not in matched]
            else:
                for i in matched:
                    if isinstance(items[i], dict):
                        items[i].pop(_find_key(items[i], target.sub_attr), None)
            target.container[key] = items
            return
        if not matched:
            if op == "replace" and target.sub_attr is None:
                raise NoTargetException(detail=f"No value matches {operation.path!r}.")
            # Entra ID adds emails[type eq "work"].value to a user without a work email.
            new = _template_from_filter(target.value_filter)
            if target.sub_attr is None:
                if not isinstance(value, dict):
                    raise InvalidValueException(detail=f"The value for {operation.path!r} must be an object.")
                new.update(value)
            else:
                new[target.sub_attr] = value
            # Like any added value: it becomes the person's one address only if it says it is
            # primary; otherwise it is not kept (see patch_user).
            items.append(new)
            target.container[key] = _one_primary(items, [new] if _is_primary(new) else [])
            return
        for i in matched:
            if target.sub_attr is None:
                if not isinstance(value, dict):
                    raise InvalidValueException(detail=f"The value for {operation.path!r} must be an object.")
                if op == "add" and isinstance(items[i], dict):
                    items[i] = {**items[i], **value}
                else:
                    items[i] = value
            elif isinstance(items[i], dict):
                items[i][_find_key(items[i], target.sub_attr)] = value
        target.container[key] = _one_primary(items, [items[i] for i in matched if _is_primary(items[i])])
        return
    if target.sub_attr is not None:
        parent = target.container.get(key)
        if isinstance(parent, list):
            # name the sub-attribute of every value (e.g. emails.type)
            for item in parent:
                if isinstance(item, dict):
                    if op == "remove":
                        item.pop(_find_key(item, target.sub_attr), None)
                    else:
                        item[_find_key(item, target.sub_attr)] = value
            return
        if not isinstance(parent, dict):
            if op == "remove":
                return
            parent = {}
            target.container[key] = parent
        if op == "remove":
            parent.pop(_find_key(parent, target.sub_attr), None)
        else:
            parent[_find_key(parent, target.sub_attr)] = value
        return
    if op == "remove":
        current = target.container.get(key)
        if isinstance(current, list) and isinstance(value, list) and value:
            # Entra ID removes members by sending them as the value.
            doomed = {_value_of(v) for v in value}
            target.container[key] = [item for item in current if _value_of(item) not in doomed]
        else:
            target.container.pop(key, None)
        return
    _set_attribute(target.container, target.attr, value, add=op == "add")


def _is_primary(item: Any) -> bool:
    """Whether a value of a multi-valued attribute says it is the primary one."""
    if not isinstance(item, dict):
        return False
    flag = item.get(_find_key(item, "primary"))
    if flag is None:
        return False
    try:
        return parse_boolean(flag, "primary")
    except InvalidValueException:
        return False  # read_user refuses it with the reason


def _one_primary(items: list[Any], chosen: list[Any]) -> list[Any]:
    """``items`` with ``primary`` false on every value but the last one an operation made primary
    (RFC 7643 §2.4: primary is true on one value at most; RFC 7644 §3.5.2: setting it turns the
    others' off)."""
    if not chosen:
        return items
    keep = chosen[-1]
    for item in items:
        if item is not keep and item != keep and _is_primary(item):
            item[_find_key(item, "primary")] = False
    return items


def _value_of(item: Any) -> str:
    if isinstance(item, dict):
        return str(_lower_keys(item).get("value"))
    return str(item)


# --- groups --------------------------------------------------------------------------------------


@dataclass
class GroupInput:
    display_name: str
    external_id: str | None
    member_ids: list[uuid.UUID] | None  # None: not sent


def _member_ids(value: Any) -> list[uuid.UUID]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise InvalidValueException(detail="members must be a list.")
    if len(value) > MAX_MEMBERS_PER_REQUEST:
        raise InvalidValueException(detail=f"At most {MAX_MEMBERS_PER_REQUEST} members per request.")
    ids = []
    for item in value:
        raw = _lower_keys(item).get("value") if isinstance(item, dict) else item
        member_id = filters.parse_id(raw)
        if member_id is None:
            raise InvalidValueException(detail=f"{raw!r} is not the id of a User.")
        ids.append(member_id)
    return ids


def read_group(body: dict[str, Any]) -> GroupInput:
    """The Roster fields of a SCIM Group."""
    data = _lower_keys(body)
    name = _string(data.get("displayname"), "displayName", max_length=200)
    if not name:
        raise InvalidValueException(detail="displayName is required.")
    return GroupInput(
        display_name=name,
        external_id=_string(data.get("externalid"), "externalId", max_length=255) or None,
        member_ids=_member_ids(data["members"]) if "members" in data else None,
    )


def get_scim_group(ctx: ScimContext, group_id: str) -> Department:
    """A department of this token's organization."""
    wanted = filters.parse_id(group_id)
    department = ctx.session.get(Department, (ctx.org_id, wanted)) if wanted else None
    if department is None:
        raise NotFoundException(detail=f"Group {group_id} not found.")
    return department


def _scim_users(ctx: ScimContext, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The ids, each of which must be a User of this organization (not deleted)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = set(ctx.session.scalars(select(User.id).where(*_user_scope(ctx.org_id), User.id.in_(wanted))))
    missing = [str(u) for u in wanted if u not in found]
    if missing:
        raise InvalidValueException(detail=f"No such User: {', '.join(missing[:5])}.")
    return wanted


def _members_action(action: Any, *args: Any, **kwargs: Any) -> Any:
    # The identity provider is the source of truth for memberships, of disabled people too.
    try:
        return action(*args, include_inactive=True, **kwargs)
    except errors.InactiveUser as exc:
        raise InvalidValueException(detail=exc.detail) from None


def create_group(ctx: ScimContext, body: dict[str, Any]) -> Department:
    """A new department, with its members."""
    data = read_group(body)
    department: Department = _group_call(
        directory.create_department,
        ctx.session,
        ctx.org_id,
        actor=None,
        name=data.display_name,
        external_id=data.external_id,
    )
    if data.member_ids:
        members = _scim_users(ctx, data.member_ids)
        _members_action(directory.add_department_members, ctx.session, department, members, actor=None)
    return department


def _group_call(action: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return action(*args, **kwargs)
    except errors.ValidationFailed as exc:
        raise InvalidValueException(detail=exc.detail) from None


def replace_group(ctx: ScimContext, department: Department, body: dict[str, Any]) -> Department:
    """PUT: name, external id and members become the body's."""
    data = read_group(body)
    _check_id_unchanged(body, department.id)
    _group_call(
        directory.update_department,
        ctx.session,
        department,
        actor=None,
        name=data.display_name,
        external_id=data.external_id,
    )
    members = _scim_users(ctx, data.member_ids or [])
    _members_action(directory.set_department_members, ctx.session, department, members, actor=None)
    return department


def _is_members_path(path: str | None) -> bool:
    return path is not None and path.split("[")[0].strip().lower() in (
        "members",
        f"{_CORE_GROUP_KEY}:members",
    )


def patch_group(ctx: ScimContext, department: Department, body: dict[str, Any]) -> Department:
    """PATCH a department: member operations go straight to the directory's member actions."""
    operations = read_patch(body)
    shown: dict[str, Any] = {"displayName": department.name, "externalId": department.external_id}
    changed = False
    for operation in operations:
        if _is_members_path(operation.path):
            _patch_members(ctx, department, operation)
            continue
        if operation.path is None and isinstance(operation.value, dict):
            value = dict(operation.value)
            member_key = next((k for k in value if str(k).lower() == "members"), None)
            if member_key is not None:
                _patch_members(ctx, department, Operation(operation.op, "members", value.pop(member_key)))
            operation = Operation(operation.op, None, value)
        apply_operation(shown, operation, core_urn=CORE_GROUP, extension_urn=None)
        changed = True
        unknown = [k for k in shown if str(k).lower() not in ("displayname", "externalid")]
        if unknown:
            raise InvalidPathException(detail=f"Groups have no attribute {unknown[0]!r} to change.")
    if changed:
        data = _lower_keys(shown)
        name = _string(data.get("displayname"), "displayName", max_length=200)
        if not name:
            raise MutabilityException(detail="displayName is required and cannot be removed.")
        _group_call(
            directory.update_department,
            ctx.session,
            department,
            actor=None,
            name=name,
            external_id=_string(data.get("externalid"), "externalId", max_length=255) or None,
        )
    return department


def _patch_members(ctx: ScimContext, department: Department, operation: Operation) -> None:
    path = operation.path or "members"
    value_filter: FilterNode | None = None
    if "[" in path:
        try:
            node = Path(path).ast
        except Exception:
            raise InvalidPathException(detail=f"{path!r} is not a valid path.") from None
        if not isinstance(node, ValuePath):
            raise InvalidPathException(detail=f"{path!r} is not a path to members.")
        value_filter = node.val_filter
    if operation.op == "remove":
        if value_filter is not None:
            ids = _filter_member_ids(ctx, department, value_filter)
        elif operation.value not in (None, [], {}):
            ids = _member_ids(operation.value)
        else:
            ids = list(
                ctx.session.scalars(
                    select(DepartmentMember.user_id).where(
                        DepartmentMember.org_id == department.org_id,
                        DepartmentMember.department_id == department.id,
                        DepartmentMember.hidden_by.is_(None),
                    )
                )
            )
        directory.remove_department_members(ctx.session, department, ids, actor=None)
        return
    if value_filter is not None:
        raise InvalidPathException(
            detail="Add or replace members with the path members and a list of values."
        )
    ids = _scim_users(ctx, _member_ids(operation.value))
    if operation.op == "add":
        _members_action(directory.add_department_members, ctx.session, department, ids, actor=None)
    else:
        _members_action(directory.set_department_members, ctx.session, department, ids, actor=None)


def _filter_member_ids(ctx: ScimContext, department: Department, node: FilterNode) -> list[uuid.UUID]:
    """Members selected by ``members[value eq "id"]`` (or any filter on value)."""
    current = load_group_members(ctx.session, [department])[department.id]
    return [
        uid for uid, name in current if _matches({"value": str(uid), "display": name, "type": "User"}, node)
    ]


def delete_group(ctx: ScimContext, department: Department) -> None:
    """DELETE: the directory's delete (sub-departments move up, memberships end)."""
    directory.delete_department(ctx.session, department, actor=None)


# --- conditional requests ------------------------------------------------------------------------


def check_if_match(header: str | None, resource: dict[str, Any]) -> None:
    """412 when If-Match names none of the resource's current versions."""
    if not header:
        return
    current = resource["meta"]["version"]
    tags = etags.listed(header)
    if "*" in tags or any(etags.weak_equal(tag, current) for tag in tags):
        return
    raise PreconditionFailedException(detail="The resource changed since that version (If-Match failed).")


def not_modified(header: str | None, resource: dict[str, Any]) -> bool:
    """Whether If-None-Match names the resource's current version (answer 304)."""
    return etags.none_match(header, resource["meta"]["version"])
