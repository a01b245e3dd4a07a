"""The route table, read from the app, and sample objects for every path parameter.

A feature that adds a route with a new path parameter adds a maker to ``OBJECT_MAKERS``: it makes
one object of that kind in the given organization and returns its id. test_route_security.py fails
on any parameter without one, so new routes are covered automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from annotated_types import MaxLen
from fastapi import FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from roster.accounts import deps
from roster.accounts import service as accounts
from roster.ids import new_id
from roster.patches import Patch
from roster.problems import is_json_media_type
from tests.factories import OrgWithAdmin, make_user

ObjectMaker = Callable[[Session, OrgWithAdmin], str]


def _personal_token(db: Session, o: OrgWithAdmin) -> str:
    return str(accounts.issue_token(db, o.admin, kind="pat", name="sample").token.id)


def _invitation(db: Session, o: OrgWithAdmin) -> str:
    from roster.lifecycle.invitations import invite_user

    email = f"invitee-{new_id().hex[:8]}@{o.org.slug}.test"
    invitation, _ = invite_user(db, o.org.id, actor=o.admin, email=email)
    return str(invitation.id)


def _post(db: Session, o: OrgWithAdmin) -> str:
    from roster.stream.service import create_post

    return str(create_post(db, actor=o.admin, body="A sample post").id)


def _comment(db: Session, o: OrgWithAdmin) -> str:
    from roster.stream.service import add_comment, create_post

    post = create_post(db, actor=o.admin, body="A post with a comment")
    return str(add_comment(db, post, actor=o.admin, body="A sample comment").id)


def _chat(db: Session, o: OrgWithAdmin) -> str:
    from roster.messages.service import create_group_chat

    other = make_user(db, o.org)
    return str(create_group_chat(db, actor=o.admin, title="Sample", member_ids=[other.id]).id)


def _department(db: Session, o: OrgWithAdmin) -> str:
    from roster.directory import departments

    return str(departments.create_department(db, o.org.id, actor=o.admin, name="Sample department").id)


def _department_member(db: Session, o: OrgWithAdmin) -> str:
    from roster.directory import departments

    department = departments.create_department(db, o.org.id, actor=o.admin, name="Sample team")
    member = make_user(db, o.org)
    departments.add_department_members(db, department, [member.id], actor=o.admin)
    return str(member.id)


def _task(db: Session, o: OrgWithAdmin) -> str:
    from roster.tasks.service import create_task

    return str(create_task(db, actor=o.admin, title="A sample task", responsible_id=o.admin.id).id)


def _file(db: Session, o: OrgWithAdmin) -> str:
    from roster.drive.models import DriveFile

    # A row is enough: the routes answer for another organization before any bytes are read.
    file = DriveFile(
        org_id=o.org.id,
        name="sample.txt",
        size=1,
        content_type="text/plain",
        sha256="0" * 64,
        owner_id=o.admin.id,
        uploader_id=o.admin.id,
    )
    db.add(file)
    db.flush()
    return str(file.id)


def _lead(db: Session, o: OrgWithAdmin) -> str:
    from roster.crm.service import create_lead

    return str(create_lead(db, actor=o.admin, title="A sample lead", responsible_id=o.admin.id).id)


def _trash_item(db: Session, o: OrgWithAdmin) -> str:
    from roster.crm.service import create_lead, delete_lead

    lead = create_lead(db, actor=o.admin, title="A deleted lead", responsible_id=o.admin.id)
    return str(delete_lead(db, lead, actor=o.admin).id)


def _scim_token(db: Session, o: OrgWithAdmin) -> str:
    from roster.scim.tokens import create_scim_token

    return str(create_scim_token(db, o.org.id, actor=o.admin, name="sample").token.id)


def _operation(db: Session, o: OrgWithAdmin) -> str:
    from roster.lifecycle.deletion import delete_user

    leaver = make_user(db, o.org)
    return str(delete_user(db, leaver, actor=o.admin, confirm=leaver.email).operation_id)


OBJECT_MAKERS: dict[str, ObjectMaker] = {
    "department_id": _department,
    "member_user_id": _department_member,
    "post_id": _post,
    "comment_id": _comment,
    "chat_id": _chat,
    "member_id": lambda db, o: str(o.admin.id),  # the admin is a member of every sample chat
    "invitation_id": _invitation,
    "user_id": lambda db, o: str(make_user(db, o.org).id),
    "token_id": _personal_token,
    "task_id": _task,
    "file_id": _file,
    "lead_id": _lead,
    "item_id": _trash_item,
    "scim_token_id": _scim_token,
    "operation_id": _operation,
    # Secrets in the links of public pages (sign-in is not needed, so no object is checked).
    "reset_token": lambda db, o: "rst_not_a_real_reset_link",
    "invite_token": lambda db, o: "rst_not_a_real_invitation",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    access: str  # public | user | admin
    has_body: bool

    @property
    def params(self) -> list[str]:
        return [part[1:-1].split(":")[0] for part in self.path.split("/") if part.startswith("{")]


def _calls(dependant: Dependant) -> set[object]:
    found: set[object] = set()
    for sub in dependant.dependencies:
        found.add(sub.call)
        found |= _calls(sub)
    return found


def _flat_routes(routes: list[Any]) -> list[tuple[str, set[str], Dependant]]:
    """(path, methods, dependant) of every API route, including those of included routers
    (FastAPI keeps an included router as one ``_IncludedRouter`` entry of ``app.routes``)."""
    found: list[tuple[str, set[str], Dependant]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((route.path, set(route.methods or []), route.dependant))
        elif hasattr(route, "effective_candidates"):
            for candidate in route.effective_candidates():
                if hasattr(candidate, "effective_candidates"):
                    found.extend(_flat_routes([candidate]))
                elif isinstance(candidate.original_route, APIRoute) and candidate.dependant is not None:
                    found.append((candidate.path, set(candidate.methods or []), candidate.dependant))
    return found


def api_routes(app: FastAPI) -> list[Route]:
    routes = []
    for path, methods, dependant in _flat_routes(list(app.routes)):
        calls = _calls(dependant)
        if deps.get_admin in calls:
            access = "admin"
        elif deps.get_principal in calls or deps.get_caller in calls:
            access = "user"
        else:
            access = "public"
        has_body = dependant.body_params != []
        for method in sorted(methods):
            routes.append(Route(method, path, access, has_body))
    return routes


SCIM_PREFIX = "/scim/v2"
SCIM_OBJECT_MAKERS: dict[str, ObjectMaker] = {
    "user_id": lambda db, o: str(make_user(db, o.org).id),
    "group_id": _department,
}


def scim_routes(app: FastAPI) -> list[Route]:
    """Every route of the SCIM application mounted at /scim/v2 (all need a SCIM token)."""
    from starlette.applications import Starlette
    from starlette.routing import Route as StarletteRoute

    from roster.app import RosterApp

    assert isinstance(app, RosterApp) and isinstance(app.scim_app, Starlette)
    found = []
    for route in app.scim_app.routes:
        if isinstance(route, StarletteRoute):
            for method in sorted(route.methods or []):
                found.append(Route(method, SCIM_PREFIX + route.path, "scim", method != "GET"))
    assert found, "the SCIM server has no routes"
    return found


def patch_bodies(app: FastAPI) -> list[tuple[Route, type[Patch]]]:
    """Every route whose body is a ``roster.patches.Patch``, and that model."""
    found = []
    for path, methods, dependant in _flat_routes(list(app.routes)):
        for param in dependant.body_params:
            model = param.field_info.annotation
            if isinstance(model, type) and issubclass(model, Patch):
                found.extend((Route(method, path, "user", True), model) for method in sorted(methods))
    return found


def json_body_routes(app: FastAPI) -> list[Route]:
    """Every API route that reads its body as JSON: its OpenAPI operation documents a JSON request
    body (FastAPI documents a body model so; a route that reads its body itself, such as the bulk
    invitations, documents what it reads in ``openapi_extra``)."""
    documented = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if any(map(is_json_media_type, operation.get("requestBody", {}).get("content", {})))
    }
    return [r for r in api_routes(app) if (r.method, r.path) in documented]


def body_model_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route whose body is a model rather than form fields or files."""
    return {
        (method, path)
        for path, methods, dependant in _flat_routes(list(app.routes))
        for method in methods
        if any(not isinstance(p.field_info, params.Form) for p in dependant.body_params)
    }


def page_routes(app: FastAPI) -> list[Route]:
    """Every server-rendered page a browser opens (GET)."""
    return [r for r in api_routes(app) if r.method == "GET" and is_page(r)]


def _length_limits(dependant: Dependant) -> dict[str, int]:
    """The form fields and query parameters of a route (and of its dependencies) with a
    ``max_length``, by the name a request sends."""
    limits: dict[str, int] = {}
    for param in [*dependant.body_params, *dependant.query_params]:
        for rule in param.field_info.metadata:
            if isinstance(rule, MaxLen):
                limits[param.alias] = rule.max_length
    for sub in dependant.dependencies:
        limits.update(_length_limits(sub))
    return limits


def form_limits(app: FastAPI) -> dict[tuple[str, str], dict[str, int]]:
    """(method, path) of every route, and the longest value each of its fields takes."""
    return {
        (method, path): _length_limits(dependant)
        for path, methods, dependant in _flat_routes(list(app.routes))
        for method in methods
    }


def is_page(route: Route) -> bool:
    """A server-rendered page (not the API, health checks or the API docs)."""
    return not route.path.startswith(("/api/", "/healthz", "/readyz", "/docs", "/openapi", "/redoc"))
