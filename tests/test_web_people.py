"""The admin's people pages: editing someone, pickers that never offer the person acted on, the
seat-limit ways out of a rehire, and handing the System User's records to someone."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from roster.accounts import service as accounts
from roster.accounts.models import User
from roster.directory.search import search_users
from roster.lifecycle.invitations import invite_user
from roster.lifecycle.models import AuditEvent
from roster.settings import Settings
from tests.factories import auth, make_org, make_user
from tests.test_web import HTML, post, sign_in

API = "/api/v1"


def _events(db: Session, org_id: object, action: str) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.action == action))
    )


# --- 1. An admin edits someone ------------------------------------------------------------------


def test_an_admin_edits_a_persons_name_position_role_and_email_from_their_card(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Doe", email="erin@old.test")
    csrf = sign_in(client, db, settings, o.admin)
    card = client.get(f"/people/{erin.id}", headers=HTML)
    assert f'href="/people/{erin.id}/edit"' in card.text
    form = client.get(f"/people/{erin.id}/edit", headers=HTML)
    assert form.status_code == 200 and 'value="erin@old.test"' in form.text
    saved = post(
        client,
        f"/people/{erin.id}/edit",
        csrf,
        {
            "first_name": "Erin",
            "last_name": "Smith",
            "display_name": "Erin Smith",
            "position": "Head of Ops",
            "email": "Erin.Smith@New.test",
            "role": "admin",
        },
    )
    assert saved.status_code == 200 and "profile is saved" in saved.text
    db.expire_all()
    erin = db.get(User, (o.org.id, erin.id))
    assert erin is not None
    assert (erin.last_name, erin.position, erin.role) == ("Smith", "Head of Ops", "admin")
    assert erin.email == "Erin.Smith@new.test" and erin.email_key == "erin.smith@new.test"
    assert [e.details for e in _events(db, o.org.id, "user.email_changed")] == [
        {"from": "erin@old.test", "to": "Erin.Smith@new.test"}
    ]
    # The directory finds them by the new address and no longer by the old one.
    assert [u.id for u in search_users(db, o.org.id, q="erin.smith@new", status="active")[0]] == [erin.id]
    assert search_users(db, o.org.id, q="erin@old", status="active")[0] == []
    # They sign in with the new address.
    assert accounts.get_user_by_email(db, o.org.id, "erin.smith@new.test") is not None


def test_demoting_the_last_admin_is_explained_beside_the_role_and_nothing_is_saved(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    other = make_user(db, o.org, first_name="Otto")
    csrf = sign_in(client, db, settings, other)  # an employee may not open it
    assert client.get(f"/people/{o.admin.id}/edit", headers=HTML).status_code == 403
    csrf = sign_in(client, db, settings, o.admin)
    answer = post(
        client,
        f"/people/{o.admin.id}/edit",
        csrf,
        {
            "first_name": "Ada",
            "last_name": "Changed",
            "display_name": "Ada Changed",
            "position": "",
            "email": o.admin.email,
            "role": "employee",
        },
    )
    assert answer.status_code == 409
    assert (
        "the only administrator" in answer.text and "Make someone else an administrator first." in answer.text
    )
    assert 'value="Changed"' in answer.text  # what was typed stays
    db.expire_all()
    admin = db.get(User, (o.org.id, o.admin.id))
    assert admin is not None and (admin.role, admin.last_name) == ("admin", "Admin")


def test_an_address_someone_holds_is_refused_with_what_to_do(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, email="erin@x.test")
    make_user(db, o.org, email="taken@x.test")
    gone = make_user(db, o.org, email="gone@x.test", dismissed=True)
    invite_user(db, o.org.id, actor=o.admin, email="invited@x.test")
    csrf = sign_in(client, db, settings, o.admin)
    base = {
        "first_name": erin.first_name,
        "last_name": erin.last_name,
        "display_name": erin.display_name,
        "position": "",
        "role": "employee",
    }
    for address, status, words in [
        ("TAKEN@x.test", 409, "Choose another address, or change or free that one first."),
        ("invited@x.test", 409, "pending invitation"),
        ("gone@x.test", 409, "belongs to a dismissed person"),
        ("not-an-address", 422, "email"),
    ]:
        answer = post(client, f"/people/{erin.id}/edit", csrf, {**base, "email": address})
        assert answer.status_code == status, address
        assert words in answer.text and f'value="{address}"' in answer.text
        if address == "gone@x.test":  # the dismissed holder is one click away
            assert f'href="/people/{gone.id}"' in answer.text
    db.expire_all()
    assert db.get(User, (o.org.id, erin.id)).email == "erin@x.test"  # type: ignore[union-attr]


def test_the_api_lets_admins_change_an_email_and_refuses_employees(client: TestClient, db: Session) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, email="erin@x.test")
    gone = make_user(db, o.org, email="gone@x.test", dismissed=True)
    make_user(db, o.org, email="taken@x.test")
    admin = auth(db, o.admin)
    answer = client.patch(f"{API}/users/{erin.id}", json={"email": "taken@X.test"}, headers=admin)
    assert (answer.status_code, answer.json()["code"]) == (409, "email_in_use")
    answer = client.patch(f"{API}/users/{erin.id}", json={"email": "gone@x.test"}, headers=admin)
    assert (answer.status_code, answer.json()["code"]) == (409, "email_belongs_to_dismissed_user")
    assert answer.json()["user_id"] == str(gone.id)
    answer = client.patch(f"{API}/users/{erin.id}", json={"email": "no at sign"}, headers=admin)
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_email")
    answer = client.patch(f"{API}/users/{erin.id}", json={"email": "erin@new.test"}, headers=admin)
    assert answer.status_code == 200 and answer.json()["email"] == "erin@new.test"
    mine = client.patch(f"{API}/users/{erin.id}", json={"email": "me@elsewhere.test"}, headers=auth(db, erin))
    assert mine.status_code == 403
    db.expire_all()
    assert db.get(User, (o.org.id, erin.id)).email == "erin@new.test"  # type: ignore[union-attr]
    assert [e.details for e in _events(db, o.org.id, "user.email_changed")] == [
        {"from": "erin@x.test", "to": "erin@new.test"}
    ]


def test_a_restore_refused_for_a_taken_address_can_be_undone_by_changing_it(
    client: TestClient, db: Session
) -> None:
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    leaver = make_user(db, o.org, email="same@x.test")
    delete_user(db, leaver, actor=o.admin, confirm="same@x.test")
    newcomer = make_user(db, o.org, email="same@x.test")
    admin = auth(db, o.admin)
    refused = client.post(f"{API}/users/{leaver.id}/restore", headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (409, "email_in_use")
    moved = client.patch(f"{API}/users/{newcomer.id}", json={"email": "same2@x.test"}, headers=admin)
    assert moved.status_code == 200
    assert client.post(f"{API}/users/{leaver.id}/restore", headers=admin).status_code == 200


def test_a_restore_refused_for_a_taken_address_links_to_whoever_holds_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    leaver = make_user(db, o.org, email="same@x.test", first_name="Lee", last_name="Leaver")
    invited = make_user(db, o.org, email="other@x.test", first_name="Ivy", last_name="Invited")
    delete_user(db, leaver, actor=o.admin, confirm="same@x.test")
    delete_user(db, invited, actor=o.admin, confirm="other@x.test")
    newcomer = make_user(db, o.org, email="same@x.test")
    invite_user(db, o.org.id, actor=o.admin, email="other@x.test", settings=settings)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)

    refused = post(client, f"/people/{leaver.id}/restore", csrf)
    assert "Lee Leaver was not restored" in refused.text and "(another person)" in refused.text
    assert (
        f'<a class="btn btn-secondary btn-sm alert-action" href="/people/{newcomer.id}">Open their page</a>'
        in (refused.text)
    )
    # The refusal leads back to the person as well as to whoever holds the address.
    assert _back_to(leaver.id, "Lee Leaver") in refused.text
    refused = post(client, f"/people/{invited.id}/restore", csrf)
    assert "Ivy Invited was not restored" in refused.text and "(a pending invitation)" in refused.text
    assert 'href="/people/invited">See pending invitations</a>' in refused.text
    assert _back_to(invited.id, "Ivy Invited") in refused.text


def _back_to(user_id: object, name: str) -> str:
    """A refusal's link back to the page of the person it refused to act on."""
    return f'href="/people/{user_id}">Back to {name}</a>'


def test_a_restore_refused_for_someone_not_deleted_leads_back_to_them(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Early")
    csrf = sign_in(client, db, settings, o.admin)
    refused = post(client, f"/people/{erin.id}/restore", csrf)
    assert refused.url.path == "/people/deleted" and "Erin Early was not restored" in refused.text
    assert (
        f'<a class="btn btn-secondary btn-sm alert-action" href="/people/{erin.id}">Back to Erin Early</a>'
        in refused.text
    )


def test_refusing_an_action_on_a_person_leads_back_to_their_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Deleting, merging, erasing or dismissing oneself or the System User, editing them or someone
    deleted: each refusal (an error page, or the form again) links back to the person's page."""
    from roster.accounts.service import get_system_user
    from roster.lifecycle.deletion import delete_user

    o = make_org(db)
    erin = make_user(db, o.org, first_name="Erin", last_name="Early")
    gone = make_user(db, o.org, first_name="Gus", last_name="Gone")
    delete_user(db, gone, actor=o.admin, confirm=gone.email)
    system = get_system_user(db, o.org.id)
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    me = (o.admin.id, "Ada Admin")
    error_pages = [
        (f"/people/{o.admin.id}/{action}", me, "You cannot delete, merge or erase your own account")
        for action in ("delete", "delete/review", "merge", "erase")
    ] + [
        (f"/people/{system.id}/{action}", (system.id, system.display_name), "The System User cannot be")
        for action in ("delete", "merge", "erase", "dismiss")
    ]
    error_pages += [
        (f"/people/{o.admin.id}/dismiss", me, "You cannot dismiss your own account"),
        (f"/people/{system.id}/edit", (system.id, system.display_name), "profile cannot be changed"),
        (f"/people/{gone.id}/edit", (gone.id, "Gus Gone"), "Gus Gone is deleted; restore them"),
    ]
    for path, (user_id, name), said in error_pages:
        page = client.get(path, headers=HTML)
        assert page.status_code == 409 and said in page.text.replace("&#39;", "'"), path
        assert f'<a class="btn" href="/people/{user_id}">Back to {name}</a>' in page.text, path
    sent = post(client, f"/people/{gone.id}/edit", csrf, {"email": "gus@x.test"})
    assert sent.status_code == 409 and _back_to(gone.id, "Gus Gone") in sent.text
    # A refusal after the form was sent shows the form again, under the person's breadcrumb.
    for path, data, user_id in (
        (f"/people/{erin.id}/merge", {"into_id": str(erin.id), "confirm": erin.email}, erin.id),
        (f"/people/{o.admin.id}/dismiss", {}, o.admin.id),
        (f"/people/{o.admin.id}/delete", {"confirm": o.admin.email}, o.admin.id),
        (f"/people/{system.id}/dismiss", {}, system.id),
    ):
        page = post(client, path, csrf, data)
        assert page.status_code in (409, 422) and f'<a href="/people/{user_id}">' in page.text, path
    # What does not read HTML gets the refusal as the API answers it, and no page.
    answer = client.get(f"/people/{o.admin.id}/dismiss", headers={"Accept": "application/json"})
    assert (answer.status_code, answer.json()["code"]) == (409, "cannot_act_on_self")
    db.expire_all()
    for user_id in (erin.id, o.admin.id):
        assert db.get(User, (o.org.id, user_id)).status == "active"  # type: ignore[union-attr]


# --- 2. Pickers never offer the person acted on, and tell namesakes apart -----------------------


def _picker_options(page: str, name: str) -> str:
    import re

    found = re.search(rf'<select id="f-{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, name
    return found.group(1)


def test_the_delete_merge_and_transfer_pickers_leave_out_the_person_and_show_addresses(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    dup = make_user(db, o.org, first_name="Chloé", last_name="Martin", email="chloe.m@x.test")
    keep = make_user(db, o.org, first_name="Chloé", last_name="Martin", email="chloe@x.test")
    sign_in(client, db, settings, o.admin)
    for page, field in [("delete", "successor_id"), ("merge", "into_id"), ("transfer", "to_id")]:
        text = client.get(f"/people/{dup.id}/{page}", headers=HTML).text
        options = _picker_options(text, field)
        assert str(dup.id) not in options, page
        assert f'value="{keep.id}"' in options and "&lt;chloe@x.test&gt;" in options, page
        # The script's search leaves them out too, and asks the directory, which names addresses.
        assert f'data-exclude="{dup.id}"' in text and 'data-source="/api/v1/users?' in text, page


def test_choosing_the_person_themself_is_refused_where_they_are_chosen(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    tasks.create_task(db, actor=leaver, title="Renew the lease", responsible_id=leaver.id)
    csrf = sign_in(client, db, settings, o.admin)
    review = client.get(
        f"/people/{leaver.id}/delete/review",
        params={"successor_id": str(leaver.id), "kind:tasks.task.responsible": "successor"},
        headers=HTML,
    )
    assert review.status_code == 422
    assert "Lee Leaver is the person being deleted: pick the colleague who takes over" in review.text
    assert "Type the email to confirm" not in review.text
    merged = post(
        client, f"/people/{leaver.id}/merge", csrf, {"into_id": str(leaver.id), "confirm": leaver.email}
    )
    assert merged.status_code == 422 and "That is the duplicate itself" in merged.text
    db.expire_all()
    assert db.get(User, (o.org.id, leaver.id)).status == "active"  # type: ignore[union-attr]


def test_a_merge_of_namesakes_names_both_with_their_addresses(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    dup = make_user(db, o.org, first_name="Chloé", last_name="Martin", email="chloe.m@x.test")
    keep = make_user(db, o.org, first_name="Chloé", last_name="Martin", email="chloe@x.test")
    csrf = sign_in(client, db, settings, o.admin)
    done = post(client, f"/people/{dup.id}/merge", csrf, {"into_id": str(keep.id), "confirm": dup.email})
    assert done.status_code == 200
    assert "Chloé Martin (chloe.m@x.test) is merged into Chloé Martin (chloe@x.test)" in done.text


def test_a_mistyped_confirmation_comes_back_in_its_field_to_correct_and_nothing_happens(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver", email="lee@x.test")
    keep = make_user(db, o.org, first_name="Lee", last_name="Leaver", email="lee.leaver@x.test")
    csrf = sign_in(client, db, settings, o.admin)
    typo = "lee@x.tset"
    for path, data in (
        (f"/people/{leaver.id}/delete", {"confirm": typo}),
        (f"/people/{leaver.id}/erase", {"confirm": typo}),
        (f"/people/{leaver.id}/merge", {"into_id": str(keep.id), "confirm": typo}),
        (f"/people/{leaver.id}/merge", {"confirm": typo}),  # the account to keep not picked yet
    ):
        page = post(client, path, csrf, data)
        assert page.status_code == 422, path
        assert re.search(r'<input id="f-confirm" name="confirm" type="text" value="lee@x.tset"', page.text), (
            path
        )
    db.expire_all()
    assert db.get(User, (o.org.id, leaver.id)).status == "active"  # type: ignore[union-attr]


def test_a_delete_merge_or_erase_sent_again_leads_to_the_card_saying_it_is_done(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The confirmation sent from a second tab, or after Back: nothing to do but say so, on the card
    that offers what is left (Restore, Erase), not a form that could only be refused again."""
    o = make_org(db)
    keep = make_user(db, o.org)
    for action, data, done in (
        ("delete", {}, "already deleted"),
        ("merge", {"into_id": ""}, "already deleted"),
        ("erase", {}, "already erased"),
    ):
        person = make_user(
            db, o.org, first_name="Dee", last_name=action.capitalize(), email=f"dee.{action}@x.test"
        )
        csrf = sign_in(client, db, settings, o.admin)
        data = {**data, "confirm": person.email}
        if action == "merge":
            data["into_id"] = str(keep.id)
        first = post(client, f"/people/{person.id}/{action}", csrf, data)
        again = post(client, f"/people/{person.id}/{action}", csrf, data)
        assert (first.status_code, again.status_code) == (200, 200), action
        assert again.url.path == f"/people/{person.id}" and done in again.text, action
        assert "Nothing was" not in again.text, action
        form = client.get(f"/people/{person.id}/{action}", headers=HTML, follow_redirects=False)
        assert form.status_code == 303 and form.headers["location"] == f"/people/{person.id}", action


# --- 4. Rehire at the seat limit ------------------------------------------------------------------

WAYS_OUT = (
    '<a href="/people/invited">Pending invitations</a> · <a href="/people">Active people</a> · '
    '<a href="/admin/settings">Change plan</a>'
)


def test_rehire_at_the_seat_limit_warns_first_and_offers_the_invite_pages_ways_out(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.lifecycle.seats import get_seat_ledger

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver", dismissed=True)
    csrf = sign_in(client, db, settings, o.admin)
    room = client.get(f"/people/{leaver.id}/rehire", headers=HTML)
    assert "No seat is free" not in room.text
    for n in range(get_seat_ledger(db, o.org.id).available or 0):
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@{o.org.slug}.test", settings=settings)
    form = client.get(f"/people/{leaver.id}/rehire", headers=HTML)
    assert form.status_code == 200
    assert "No seat is free" in form.text and "cannot be rehired" in form.text and WAYS_OUT in form.text
    refused = post(client, f"/people/{leaver.id}/rehire", csrf)
    assert refused.status_code == 409
    assert "All seats are taken" in refused.text and WAYS_OUT in refused.text
    # The invite page's refusal offers the very same links.
    invite = post(client, "/people/invite", csrf, {"email": "one.more@example.test"})
    assert invite.status_code == 409 and WAYS_OUT in invite.text


def _button(page: str, label: str) -> str:
    """The opening tag of the submit button named ``label``."""
    import re

    found = re.search(rf"<button([^>]*)>{re.escape(label)}</button>", page)
    assert found, label
    return found.group(1)


def test_when_every_seat_is_taken_the_invite_and_rehire_buttons_are_off_with_the_reason(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """They would only be refused (the server still refuses them): the explanation stays, with its
    ways to free a seat, and each button says why it is off."""
    from roster.lifecycle.seats import get_seat_ledger

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver", dismissed=True)
    sign_in(client, db, settings, o.admin)
    buttons = {
        "/people/invite": ("Send invitation", "Send invitations"),
        f"/people/{leaver.id}/rehire": ("Rehire Lee Leaver",),
    }
    for path, labels in buttons.items():
        page = client.get(path, headers=HTML).text
        assert "No seat is free" not in page, path
        assert all("disabled" not in _button(page, label) for label in labels), path
    for n in range(get_seat_ledger(db, o.org.id).available or 0):
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@{o.org.slug}.test", settings=settings)
    for path, labels in buttons.items():
        page = client.get(path, headers=HTML).text
        assert "No seat is free" in page and "All 12 seats of the Free plan are" in page, path
        assert WAYS_OUT in page, path
        for label in labels:
            tag = _button(page, label)
            assert " disabled" in tag and 'aria-describedby="' in tag, (path, label)
            reason = tag.split('aria-describedby="', 1)[1].split('"', 1)[0]
            assert f'id="{reason}">No seat is free' in page, (path, label)


def test_a_plan_without_a_seat_limit_never_turns_the_invite_and_rehire_buttons_off(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db, plan="enterprise")
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver", dismissed=True)
    for n in range(30):
        invite_user(db, o.org.id, actor=o.admin, email=f"person{n}@{o.org.slug}.test", settings=settings)
    sign_in(client, db, settings, o.admin)
    invite = client.get("/people/invite", headers=HTML).text
    rehire = client.get(f"/people/{leaver.id}/rehire", headers=HTML).text
    assert "<strong>31</strong> seats used (unlimited)" in invite
    for page, label in (
        (invite, "Send invitation"),
        (invite, "Send invitations"),
        (rehire, "Rehire Lee Leaver"),
    ):
        assert "disabled" not in _button(page, label) and "No seat is free" not in page, label


# --- 5. The System User's records go to a new hire ----------------------------------------------


def test_an_admin_hands_the_system_users_records_originally_by_one_person_to_a_new_hire(
    client: TestClient, db: Session, settings: Settings
) -> None:
    import re

    from roster.accounts.service import get_system_user
    from roster.lifecycle.deletion import delete_user
    from roster.stream.models import Post
    from roster.stream.service import create_post
    from roster.tasks import service as tasks

    o = make_org(db)
    lee = make_user(db, o.org, first_name="Lee", last_name="Leaver", email="lee@x.test")
    kim = make_user(db, o.org, first_name="Kim", last_name="Gone", email="kim@x.test")
    lee_posts = [create_post(db, actor=lee, body=f"Lee's post {n}") for n in range(2)]
    kim_post = create_post(db, actor=kim, body="Kim's post")
    lee_task = tasks.create_task(db, actor=lee, title="Lee's open task", responsible_id=lee.id)
    lee_done = tasks.create_task(db, actor=lee, title="Lee's done task", responsible_id=lee.id)
    tasks.update_task(db, lee_done, actor=lee, status=tasks.TaskStatus.DONE)
    delete_user(db, lee, actor=o.admin, confirm="lee@x.test")
    delete_user(db, kim, actor=o.admin, confirm="kim@x.test")
    nina = make_user(db, o.org, first_name="Nina", last_name="New", email="nina@x.test")
    system = get_system_user(db, o.org.id)
    csrf = sign_in(client, db, settings, o.admin)

    card = client.get(f"/people/{system.id}", headers=HTML).text
    assert f'href="/people/{system.id}/transfer"' in card and "Hand over records" in card
    assert "Send a message" not in card

    page = client.get(f"/people/{system.id}/transfer", headers=HTML).text
    originals = _picker_options(page, "originally_by")
    assert f'value="{lee.id}"' in originals and f'value="{kim.id}"' in originals
    assert "Lee Leaver &lt;lee@x.test&gt; — 2 × posts written" in originals
    # The handover moves open work unless closed work is included: the count says how much is open.
    assert "1 open of 2 × tasks they are responsible for" in originals
    # Who wrote a post is not handed over unless ticked; open tasks are.
    assert re.search(r'value="stream.post.author"\s*>', page)
    assert re.search(r'value="tasks.task.responsible"\s*checked', page)

    done = post(
        client,
        f"/people/{system.id}/transfer",
        csrf,
        {"kinds": ["stream.post.author"], "to_id": str(nina.id), "originally_by": str(lee.id)},
    )
    assert done.status_code == 200 and "2 items of System User now belong to Nina New" in done.text
    db.expire_all()
    assert {db.get(Post, (o.org.id, p.id)).author_id for p in lee_posts} == {nina.id}  # type: ignore[union-attr]
    assert db.get(Post, (o.org.id, kim_post.id)).author_id == system.id  # type: ignore[union-attr]
    assert tasks.get_task(db, o.admin, lee_task.id).responsible_id == system.id
    # What was handed over is no longer counted as the System User's.
    page = client.get(f"/people/{system.id}/transfer", headers=HTML).text
    assert "2 × posts written" not in _picker_options(page, "originally_by")


def test_handing_over_one_item_says_it_now_belongs_to_the_colleague(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from roster.accounts.service import get_system_user
    from roster.lifecycle.deletion import delete_user
    from roster.stream.service import create_post

    o = make_org(db)
    lee = make_user(db, o.org, first_name="Lee", last_name="Leaver", email="lee@x.test")
    create_post(db, actor=lee, body="Lee's only post")
    delete_user(db, lee, actor=o.admin, confirm="lee@x.test")
    nina = make_user(db, o.org, first_name="Nina", last_name="New", email="nina@x.test")
    system = get_system_user(db, o.org.id)
    csrf = sign_in(client, db, settings, o.admin)

    done = post(
        client,
        f"/people/{system.id}/transfer",
        csrf,
        {"kinds": ["stream.post.author"], "to_id": str(nina.id), "originally_by": str(lee.id)},
    )
    assert done.status_code == 200
    assert "1 item of System User now belongs to Nina New." in done.text


def test_inviting_a_dismissed_persons_address_offers_rehire_or_delete_and_delete_frees_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """An admin who wants to start over with a dismissed person's address (no history) is shown
    the way: delete their account, then the same invitation goes through."""
    import re

    o = make_org(db)
    former = make_user(db, o.org, first_name="Tim", last_name="Test", email="tim@x.test", dismissed=True)
    csrf = sign_in(client, db, settings, o.admin)
    details = {"email": "tim@x.test", "first_name": "Tim", "last_name": "Test"}

    refused = post(client, "/people/invite", csrf, details)
    assert "This person worked here before" in refused.text
    assert f'href="/people/{former.id}/rehire"' in refused.text
    assert f'href="/people/{former.id}/delete"' in refused.text
    assert "start over with a new account and no history" in refused.text

    bulk = post(client, "/people/invite/bulk", csrf, {"emails": "tim@x.test"})
    rows = dict(re.findall(r"<tr><td><strong>([^<]*)</strong></td><td>(.*?)</td></tr>", bulk.text, re.S))
    assert f'href="/people/{former.id}/rehire"' in rows["tim@x.test"]
    assert f'href="/people/{former.id}/delete"' in rows["tim@x.test"]

    # The offered link opens the delete wizard; confirming it frees the address.
    assert client.get(f"/people/{former.id}/delete", headers=HTML).status_code == 200
    done = post(client, f"/people/{former.id}/delete", csrf, {"confirm": "tim@x.test"})
    assert done.status_code == 200 and "Tim Test is deleted" in done.text
    sent = post(client, "/people/invite", csrf, details)
    assert "1 invitation sent" in sent.text


def test_inviting_an_active_persons_address_leads_to_their_account_and_its_deletion(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """ "It stated user already existed": for a test or duplicate account that accepted its
    invitation, the refusal leads to the account and to deleting it, which frees the address."""
    import re

    o = make_org(db)
    test_account = make_user(db, o.org, first_name="Tess", last_name="Test", email="tess@x.test")
    csrf = sign_in(client, db, settings, o.admin)
    details = {"email": "tess@x.test", "first_name": "Tess", "last_name": "Test"}

    refused = post(client, "/people/invite", csrf, details)
    assert "A user with this address exists." in refused.text
    assert f'href="/people/{test_account.id}"' in refused.text
    assert f'href="/people/{test_account.id}/delete"' in refused.text
    assert "start over with a new account and no history" in refused.text

    bulk = post(client, "/people/invite/bulk", csrf, {"emails": "tess@x.test"})
    rows = dict(re.findall(r"<tr><td><strong>([^<]*)</strong></td><td>(.*?)</td></tr>", bulk.text, re.S))
    assert f'href="/people/{test_account.id}"' in rows["tess@x.test"]
    assert f'href="/people/{test_account.id}/delete"' in rows["tess@x.test"]

    done = post(client, f"/people/{test_account.id}/delete", csrf, {"confirm": "tess@x.test"})
    assert done.status_code == 200 and "Tess Test is deleted" in done.text
    assert "1 invitation sent" in post(client, "/people/invite", csrf, details).text
    # One's own address leads to one's own page, and to no deletion one could not do.
    own = post(client, "/people/invite", csrf, {"email": o.admin.email})
    assert (
        f'href="/people/{o.admin.id}"' in own.text and f'href="/people/{o.admin.id}/delete"' not in own.text
    )


def test_a_bulk_invitation_of_a_pending_address_offers_to_resend_it_in_its_row(
    client: TestClient, db: Session, settings: Settings
) -> None:
    import re

    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    assert "1 invitation sent" in post(client, "/people/invite", csrf, {"email": "pat@x.test"}).text
    pending = invitations_of(db, o.org.id, "pat@x.test")
    bulk = post(client, "/people/invite/bulk", csrf, {"emails": "pat@x.test"})
    rows = dict(re.findall(r"<tr><td><strong>([^<]*)</strong></td><td>(.*?)</td></tr>", bulk.text, re.S))
    assert "resend it instead" in rows["pat@x.test"]
    assert f'action="/people/invitations/{pending[0].id}/resend"' in rows["pat@x.test"]
    resent = post(client, f"/people/invitations/{pending[0].id}/resend", csrf)
    assert resent.status_code == 200 and "pat@x.test" in resent.text


def test_an_address_pasted_twice_is_invited_once_and_not_reported_as_pending(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    csrf = sign_in(client, db, settings, o.admin)
    bulk = post(
        client, "/people/invite/bulk", csrf, {"emails": "pat@x.test, Pat@X.test\nsam@x.test;pat@x.test"}
    )
    assert bulk.status_code == 200
    assert "2 invitations sent" in bulk.text and "not invited" not in bulk.text
    assert len(invitations_of(db, o.org.id, "pat@x.test")) == 1
    assert len(invitations_of(db, o.org.id, "sam@x.test")) == 1


def invitations_of(db: Session, org_id: object, email: str) -> list[object]:
    from roster.lifecycle.models import Invitation

    db.expire_all()
    return list(
        db.scalars(
            select(Invitation).where(
                Invitation.org_id == org_id, Invitation.email == email, Invitation.status == "pending"
            )
        )
    )


def test_the_deleted_list_tells_two_deleted_people_of_the_same_name_apart_by_address(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """A merged or deleted duplicate usually has the same name as the account kept: the list names
    each by their address, so the admin restores the right one."""
    import re

    from roster.lifecycle.deletion import delete_user, erase_user

    o = make_org(db)
    first = make_user(db, o.org, first_name="Anna", last_name="Jones", email="anna@x.test")
    second = make_user(db, o.org, first_name="Anna", last_name="Jones", email="anna.j@x.test")
    third = make_user(db, o.org, first_name="Gone", last_name="Forgood", email="gone@x.test")
    for user in (first, second, third):
        delete_user(db, user, actor=o.admin, confirm=user.email)
    erase_user(db, third, actor=o.admin, confirm="gone@x.test")
    sign_in(client, db, settings, o.admin)

    page = client.get("/people/deleted", headers=HTML).text
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", page, re.S)
    anna_rows = [r for r in rows if "Anna Jones" in r]
    assert len(anna_rows) == 2
    assert sum("anna@x.test" in r for r in anna_rows) == 1
    assert sum("anna.j@x.test" in r for r in anna_rows) == 1
    assert "gone@x.test" not in page


def test_the_deleted_list_opens_each_persons_card_and_offers_erasure_until_they_are_erased(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """A right-to-erasure request usually comes after the deletion: the admin finds the person on
    the Deleted tab, so the way to erase them starts there too."""
    from roster.lifecycle.deletion import delete_user, erase_user

    o = make_org(db)
    kept = make_user(db, o.org, first_name="Test", last_name="Account", email="test@x.test")
    gone = make_user(db, o.org, first_name="Gone", last_name="Forgood", email="gone@x.test")
    for user in (kept, gone):
        delete_user(db, user, actor=o.admin, confirm=user.email)
    erase_user(db, gone, actor=o.admin, confirm="gone@x.test")
    sign_in(client, db, settings, o.admin)

    page = client.get("/people/deleted", headers=HTML).text
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", page, re.S)
    kept_row = next(r for r in rows if "test@x.test" in r)
    gone_row = next(r for r in rows if "Former employee" in r)
    assert f'href="/people/{kept.id}"' in kept_row and f'href="/people/{kept.id}/erase"' in kept_row
    assert f'href="/people/{gone.id}"' in gone_row and "/erase" not in gone_row
    assert client.get(f"/people/{kept.id}/erase", headers=HTML).status_code == 200


def test_a_card_shows_the_reporting_line_and_the_identity_providers_department(
    client: TestClient, db: Session, settings: Settings
) -> None:
    o = make_org(db)
    boss = make_user(db, o.org, first_name="Bea", last_name="Boss")
    report = make_user(db, o.org, first_name="Rob", last_name="Report")
    gone = make_user(db, o.org, first_name="Gil", last_name="Gone", dismissed=True)
    report.manager_id = boss.id
    gone.manager_id = boss.id
    boss.scim_department = "Sales EMEA"
    db.flush()

    sign_in(client, db, settings, report)
    mine = client.get(f"/people/{report.id}", headers=HTML).text
    assert "<dt>Manager</dt>" in mine and "Bea Boss" in mine
    bosses = client.get(f"/people/{boss.id}", headers=HTML).text
    assert "<dt>Direct reports</dt>" in bosses and "Rob Report" in bosses
    assert "Gil Gone" not in bosses  # someone who left is not shown to employees
    assert "Sales EMEA" in bosses and "as the identity provider names it" in bosses

    sign_in(client, db, settings, o.admin)
    assert "Gil Gone" in client.get(f"/people/{boss.id}", headers=HTML).text  # admins see them
    # A department of Roster's own is what the card names.
    from roster.directory import departments

    sales = departments.create_department(db, o.org.id, actor=o.admin, name="Sales")
    departments.add_department_members(db, sales, [boss.id], actor=o.admin)
    db.flush()
    assert "Sales EMEA" not in client.get(f"/people/{boss.id}", headers=HTML).text

    # When the manager is deleted, the System User holds the place (for a restore): no reporting
    # line shows it, on the report's card or on its own.
    from roster.accounts.service import get_system_user
    from roster.lifecycle.deletion import delete_user

    delete_user(db, boss, actor=o.admin, confirm=boss.email)
    system = get_system_user(db, o.org.id)
    db.flush()
    assert "<dt>Manager</dt>" not in client.get(f"/people/{report.id}", headers=HTML).text
    assert "<dt>Direct reports</dt>" not in client.get(f"/people/{system.id}", headers=HTML).text


def test_a_restore_counts_what_was_deleted_with_the_person_as_well_as_what_was_moved(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The deletion's result listed "1 Posts written deleted" and "1 Tasks they created moved":
    the restore says both came back, not only the moved one."""
    from roster.lifecycle.deletion import Disposition, DispositionPlan, delete_user
    from roster.stream import service as stream
    from roster.tasks import service as tasks

    o = make_org(db)
    leaver = make_user(db, o.org, first_name="Lee", last_name="Leaver")
    hello = stream.create_post(db, actor=leaver, body="Hello")
    stream.add_comment(db, hello, actor=o.admin, body="Welcome")  # hidden with the post, not counted
    tasks.create_task(db, actor=leaver, title="Tidy up", responsible_id=o.admin.id)
    delete_user(
        db,
        leaver,
        actor=o.admin,
        confirm=leaver.email,
        disposition=DispositionPlan(kinds={"stream.post.author": Disposition.DELETE}),
    )
    db.flush()
    csrf = sign_in(client, db, settings, o.admin)
    restored = post(client, f"/people/{leaver.id}/restore", csrf)
    assert "Lee Leaver is restored (as dismissed)" in restored.text
    assert "1 item went back to them and 1 deleted with them is back" in restored.text
