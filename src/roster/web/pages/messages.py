"""Messages: direct conversations and group chats."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from roster.accounts.deps import DB, Principal
from roster.accounts.models import User
from roster.directory.service import can_see_user, get_user_any, get_visible_user
from roster.domain import errors
from roster.messages import service
from roster.messages.models import Chat
from roster.stream.service import load_users
from roster.web.core import WebUser, parse_uuid, redirect, render, zone_for
from roster.web.pages.shared import as_content_names, authorship_notes, picker_people

router = APIRouter(include_in_schema=False)


def _former_note(note: str | None) -> str:
    return f"Originally with {note}" if note else ""


def _chat_list(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The viewer's conversations for the list beside every messages page.

    A direct conversation with an active colleague is one entry, opened by the person
    (``/messages/with/{id}`` reads every chat the two share, so two of them are one entry). Any
    other direct chat (with the System User in a deleted person's place, someone who left, or
    nobody left) is an entry of its own, opened by its chat id: several such chats may show the
    same name, so each also says when it started, and admins see whose it originally was.
    """
    chats, _ = service.list_chats(session, principal.org_id, viewer=principal.user, per_page=100)
    page = service.load_chat_page(session, principal.org_id, chats, viewer=principal.user)
    users = as_content_names(session, principal, page.users)
    others_of = {
        c.id: [i for i in page.members.get(c.id, []) if i != principal.user.id and i in page.users]
        for c in chats
    }
    places = {
        page.membership_ids[(c.id, ids[0])]: c.id
        for c in chats
        if c.kind == "direct" and (ids := others_of[c.id]) and page.users[ids[0]].is_system
    }
    originally = {
        places[member_id]: str(name)
        for member_id, name in authorship_notes(
            session, principal, "messages.chat_member.user", list(places)
        ).items()
    }
    items: list[dict[str, Any]] = []
    by_person: dict[uuid.UUID, dict[str, Any]] = {}
    zone = zone_for(session, principal)
    for chat in chats:
        ids = others_of[chat.id]
        unread = page.unread.get(chat.id, 0)
        if chat.kind != "direct":
            people = [users[i] for i in ids if not page.users[i].is_system]
            title = chat.title or ", ".join(u.display_name for u in people[:3]) or "Group chat"
            count = len(people) + 1
            items.append(
                {
                    "chat": chat,
                    "title": title,
                    "other": None,
                    "sub": f"{count} people",
                    "note": "",
                    "href": f"/messages/chats/{chat.id}",
                    "unread": unread,
                }
            )
            continue
        raw = page.users[ids[0]] if ids else None
        if raw is not None and raw.is_active and not raw.is_system:
            if raw.id in by_person:  # another chat with the same colleague: the same conversation
                by_person[raw.id]["unread"] += unread
                continue
            entry = {
                "chat": chat,
                "title": users[raw.id].display_name,
                "other": users[raw.id],
                "sub": "Direct",
                "note": "",
                "href": f"/messages/with/{raw.id}",
                "unread": unread,
            }
            by_person[raw.id] = entry
            items.append(entry)
            continue
        other = users[raw.id] if raw is not None else None
        items.append(
            {
                "chat": chat,
                "title": other.display_name if other is not None else "Former colleague",
                "other": other,
                "sub": f"Direct (former colleague) · since {chat.created_at.astimezone(zone):%d %b %Y}",
                "note": _former_note(originally.get(chat.id)),
                "href": f"/messages/chats/{chat.id}",
                "unread": unread,
            }
        )
    return items


def messages_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    chat: Chat | None = None,
    other: User | None = None,
    messages: list[Any] | None = None,
    members: list[User] | None = None,
    error: str = "",
    group: dict[str, Any] | None = None,
    draft: str | None = None,
    direct_note: str = "",
    pick: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The inbox, or one conversation; ``draft`` is a message that was refused (``error`` says
    why), shown again in the box it was typed in, or on its own if it can no longer be sent;
    ``pick`` is a refused "Message someone" choice (``user_id``) and why (``error``).

    ``other`` is the other person of a direct conversation (the System User in a deleted
    person's place, None when nobody is left); ``members`` are a group chat's.
    """
    if draft is not None and len(draft) > service.SENT_LIMIT:
        # A form's body may be up to a megabyte; the service refuses a text this long unread.
        draft = draft[: service.SENT_LIMIT]
        error = f"{error} Only its first {service.SENT_LIMIT:,} characters are kept here."
    # Everyone in the conversation as content names them ("Former employee" where the
    # organization says so).
    senders = as_content_names(
        session, principal, load_users(session, principal.org_id, {m.sender_id for m in messages or []})
    )
    people = as_content_names(
        session, principal, {u.id: u for u in [*(members or []), *([other] if other else [])]}
    )
    # The System User keeps deleted members' places in a group chat: it is nobody to add, remove
    # or list to employees; admins see it, with whose place it keeps.
    named_members = [people[m.id] for m in members or [] if not m.is_system]
    system_member = next((m for m in members or [] if m.is_system), None) if principal.is_admin else None
    system_note = ""
    if chat is not None and system_member is not None:
        place = service.get_membership_id(session, chat, system_member.id)
        notes = authorship_notes(session, principal, "messages.chat_member.user", [place] if place else [])
        system_note = str(notes.get(place, "")) if place else ""
    # A group chat's "Add people" picker offers those not in it yet; the new-chat one, everyone else.
    present = {m.id for m in members or []} | {principal.user.id}
    removable = {
        m.id
        for m in members or []
        if chat is not None
        and m.id != principal.user.id
        and service.can_remove_chat_member(chat, actor=principal.user, member=m)
    }
    return render(
        request,
        "intranet/messages.html",
        {
            "section": "messages",
            "chats": _chat_list(session, principal),
            "chat": chat,
            "other": people[other.id] if other else None,
            "direct_note": direct_note,
            "messages": list(reversed(messages or [])),
            "senders": senders,
            "members": named_members,
            "system_member": system_member,
            "system_note": system_note,
            "removable": removable,
            "error": error,
            "group": group or {"title": "", "member_ids": []},
            "pick": pick or {"user_id": "", "error": ""},
            "draft": draft,
            "picker_people": [p for p in picker_people(session, principal) if p.id not in present],
            "present_ids": sorted(str(i) for i in present),
            "current": request.url.path,
        },
        principal=principal,
        session=session,
        status_code=status_code,
    )


@router.get("/messages")
def inbox(request: Request, principal: WebUser, session: DB) -> Response:
    return messages_page(request, principal, session)


def _direct_page(
    request: Request,
    principal: Principal,
    session: Session,
    user_id: uuid.UUID,
    *,
    error: str = "",
    draft: str | None = None,
    status_code: int = 200,
) -> Response:
    other = get_user_any(session, principal.org_id, user_id)
    if other.id == principal.user.id:
        return redirect("/messages")
    if other.is_system:
        # Each of its chats is a different former colleague's: they open one by one from the list.
        if draft is not None:
            return messages_page(
                request, principal, session, error=error, draft=draft, status_code=status_code
            )
        return redirect(
            "/messages",
            request,
            "The System User holds the conversations of colleagues who were deleted, each its own: "
            "open them one by one from the list.",
            "info",
        )
    conversation = service.get_direct_conversation(
        session, principal.org_id, viewer=principal.user, other_id=other.id, per_page=100
    )
    if conversation.chat is None and not can_see_user(principal.user, other):
        # Only an existing conversation shows someone who left; nobody else learns they exist.
        raise errors.NotFound("No such user.")
    return messages_page(
        request,
        principal,
        session,
        chat=conversation.chat,
        other=other,
        messages=conversation.messages,
        error=error,
        draft=draft,
        status_code=status_code,
    )


@router.get("/messages/with")
def pick_direct(request: Request, principal: WebUser, session: DB, user_id: str | None = None) -> Response:
    """The inbox's "Message someone" form (a plain GET form, so it works without JavaScript): on
    to the conversation with the active colleague picked, or the inbox again with the reason.
    Visited without the form, it is the inbox."""
    if user_id is None:
        return redirect("/messages")
    raw = user_id[:64]
    chosen = parse_uuid(raw)
    problem = "Choose the person to message."
    if chosen is not None and chosen == principal.user.id:
        problem = "That is you: choose someone else."
    elif chosen is not None:
        other = session.get(User, (principal.org_id, chosen))
        if other is not None and other.is_active and not other.is_system:
            return redirect(f"/messages/with/{other.id}")
        # Whoever it was (unknown, dismissed, deleted), the answer is the same: nobody learns more.
        problem = "That person is not an active colleague: choose someone else."
    return messages_page(
        request, principal, session, pick={"user_id": raw, "error": problem}, status_code=422
    )


@router.get("/messages/with/{user_id}")
def direct(request: Request, principal: WebUser, session: DB, user_id: uuid.UUID) -> Response:
    """The conversation with one person (history stays readable after they leave)."""
    return _direct_page(request, principal, session, user_id)


def _unsent(
    request: Request, principal: Principal, session: Session, exc: errors.RosterError, body: str
) -> Response:
    """A message whose conversation cannot be shown (gone, or never the sender's): the inbox, with
    the reason and the text, so it is not lost."""
    return messages_page(request, principal, session, error=exc.detail, draft=body, status_code=exc.status)


@router.post("/messages/with/{user_id}")
def send_direct(
    request: Request,
    principal: WebUser,
    session: DB,
    user_id: uuid.UUID,
    # No max_length: a text refused before this code runs would be lost; the service refuses it.
    body: Annotated[str, Form()] = "",
) -> Response:
    """Send a message to one person; a refused one shows the conversation again with the reason
    and the text as it was typed."""
    try:
        other = get_visible_user(session, principal.user, user_id)
        with session.begin_nested():
            service.send_direct_message(session, actor=principal.user, to_user_id=other.id, body=body)
    except errors.RosterError as exc:
        refused = exc
        if isinstance(exc, errors.NotFound):
            # Shown below only if the viewer has a conversation with them: they left, meanwhile.
            refused = errors.InactiveUser("That person is no longer active: choose someone else.")
        try:
            return _direct_page(
                request,
                principal,
                session,
                user_id,
                error=refused.detail,
                draft=body,
                status_code=refused.status,
            )
        except errors.NotFound as gone:
            return _unsent(request, principal, session, gone, body)
    return redirect(f"/messages/with/{other.id}#end")


@router.post("/messages/chats")
def create_group(
    request: Request,
    principal: WebUser,
    session: DB,
    title: Annotated[str, Form(max_length=1000)] = "",
    member_ids: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
) -> Response:
    """Start a group chat with the chosen colleagues."""
    ids = [u for u in (parse_uuid(v) for v in member_ids) if u is not None]
    try:
        with session.begin_nested():
            chat = service.create_group_chat(session, actor=principal.user, title=title, member_ids=ids)
    except errors.RosterError as exc:
        return messages_page(
            request,
            principal,
            session,
            error=exc.detail,
            group={"title": title, "member_ids": member_ids},
            status_code=exc.status,
        )
    return redirect(f"/messages/chats/{chat.id}", request, "The group chat is ready.")


@router.get("/messages/chats/{chat_id}")
def group(request: Request, principal: WebUser, session: DB, chat_id: uuid.UUID) -> Response:
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    return _chat_page(request, principal, session, chat)


def _chat_page(
    request: Request,
    principal: Principal,
    session: Session,
    chat: Chat,
    *,
    error: str = "",
    draft: str | None = None,
    status_code: int = 200,
) -> Response:
    """One chat by its id: a group chat with its members, or a single direct chat (one with
    someone who left or with the System User in a deleted person's place is opened this way)."""
    messages, _total = service.list_messages(session, chat, viewer=principal.user, per_page=100)
    member_ids = service.list_member_ids(session, chat)
    users = load_users(session, principal.org_id, member_ids)
    if chat.kind != "group":
        others = [users[i] for i in member_ids if i != principal.user.id and i in users]
        other = others[0] if others else None
        note = ""
        if other is not None and other.is_system:
            place = service.get_membership_id(session, chat, other.id)
            if place is not None:
                note = str(
                    authorship_notes(session, principal, "messages.chat_member.user", [place]).get(place, "")
                )
        return messages_page(
            request,
            principal,
            session,
            chat=chat,
            other=other,
            messages=messages,
            error=error,
            draft=draft,
            direct_note=_former_note(note),
            status_code=status_code,
        )
    return messages_page(
        request,
        principal,
        session,
        chat=chat,
        messages=messages,
        members=[users[i] for i in member_ids if i in users],
        error=error,
        draft=draft,
        status_code=status_code,
    )


@router.post("/messages/chats/{chat_id}")
def send_group(
    request: Request,
    principal: WebUser,
    session: DB,
    chat_id: uuid.UUID,
    # No max_length: a text refused before this code runs would be lost; the service refuses it.
    body: Annotated[str, Form()] = "",
) -> Response:
    """Post into a group chat; a refused message is shown again as the direct ones are."""
    try:
        chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    except errors.NotFound as exc:
        return _unsent(request, principal, session, exc, body)
    try:
        with session.begin_nested():
            service.send_message(session, chat, actor=principal.user, body=body)
    except errors.RosterError as exc:
        return _chat_page(
            request, principal, session, chat, error=exc.detail, draft=body, status_code=exc.status
        )
    return redirect(f"/messages/chats/{chat.id}#end")


# --- A group chat's members -----------------------------------------------------------------------


def _chat_name(chat: Chat) -> str:
    return f"“{chat.title}”" if chat.title else "the group chat"


def _names(session: Session, principal: Principal, user_ids: list[uuid.UUID]) -> str:
    users = load_users(session, principal.org_id, set(user_ids))
    return ", ".join(users[i].display_name for i in user_ids if i in users)


@router.post("/messages/chats/{chat_id}/members")
def add_members(
    request: Request,
    principal: WebUser,
    session: DB,
    chat_id: uuid.UUID,
    user_ids: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
) -> Response:
    """Add people to a group chat (any member may, as through the API); all of them or nobody."""
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    back = f"/messages/chats/{chat.id}"
    wanted = list(dict.fromkeys(u for u in (parse_uuid(v) for v in user_ids) if u is not None))
    if not wanted:
        return redirect(back, request, "Pick at least one person to add.", "error")
    present = set(service.list_member_ids(session, chat))
    try:
        with session.begin_nested():
            for user_id in wanted:
                service.add_chat_member(session, chat, actor=principal.user, user_id=user_id)
    except errors.RosterError as exc:
        return redirect(back, request, f"Nobody was added. {exc.detail}", "error")
    added = [u for u in wanted if u not in present]
    if not added:
        return redirect(back, request, "They are in the chat already.")
    verb = "is" if len(added) == 1 else "are"
    return redirect(back, request, f"{_names(session, principal, added)} {verb} added to the chat.")


def _leave(request: Request, principal: Principal, session: Session, chat: Chat) -> Response:
    try:
        with session.begin_nested():
            service.remove_chat_member(session, chat, actor=principal.user, member_id=principal.user.id)
    except errors.RosterError as exc:
        return redirect(f"/messages/chats/{chat.id}", request, exc.detail, "error")
    return redirect("/messages", request, f"You left {_chat_name(chat)}.")


@router.post("/messages/chats/{chat_id}/members/{member_id}/remove")
def remove_member(
    request: Request, principal: WebUser, session: DB, chat_id: uuid.UUID, member_id: uuid.UUID
) -> Response:
    """Remove someone from a group chat (the person who started it may), as through the API."""
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    if member_id == principal.user.id:
        return _leave(request, principal, session, chat)
    back = f"/messages/chats/{chat.id}"
    try:
        with session.begin_nested():
            service.remove_chat_member(session, chat, actor=principal.user, member_id=member_id)
    except errors.RosterError as exc:
        return redirect(back, request, exc.detail, "error")
    return redirect(back, request, f"{_names(session, principal, [member_id])} is removed from the chat.")


@router.get("/messages/chats/{chat_id}/leave")
def leave_form(request: Request, principal: WebUser, session: DB, chat_id: uuid.UUID) -> Response:
    """The "are you sure?" page before leaving a group chat: a plain form, no JavaScript needed."""
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    if not service.can_remove_chat_member(chat, actor=principal.user, member=principal.user):
        raise errors.NotAGroupChat("Nobody can leave a direct conversation.")
    return render(
        request,
        "intranet/chat_leave.html",
        {"section": "messages", "chat": chat},
        principal=principal,
        session=session,
    )


@router.post("/messages/chats/{chat_id}/leave")
def leave(request: Request, principal: WebUser, session: DB, chat_id: uuid.UUID) -> Response:
    """Leave a group chat, after its confirmation page."""
    chat = service.get_chat(session, principal.org_id, chat_id, viewer=principal.user)
    return _leave(request, principal, session, chat)
