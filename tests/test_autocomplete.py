"""Autocomplete and the search keys: any case, any accents, any script; active people only."""

from __future__ import annotations

from unittest.mock import patch

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roster.accounts.models import User
from roster.db.engine import make_engine, make_sessionmaker, transaction, writer
from roster.db.migrate import downgrade, upgrade
from roster.directory import search as directory_search
from roster.directory.keys import _folded, prefix_upper_bound, search_key
from roster.directory.search import autocomplete, autocomplete_rows, search_users
from tests.dbutil import DatabaseFactory
from tests.factories import auth, make_org, make_user


def _names(users: list[User]) -> list[str]:
    return [u.display_name for u in users]


def test_search_keys_fold_case_accents_and_compatibility_forms() -> None:
    assert search_key("Jöhn") == "john"
    assert search_key("ÖZİL") == search_key("özil")
    assert search_key("Straße") == "strasse"
    assert search_key("  Ａｎｎａ   Ｍａｒｉａ ") == "anna maria"  # full-width forms, spaces collapsed
    assert search_key("Ἀλέξανδρος") == "αλεξανδροσ"  # casefold: final sigma too
    assert search_key(None) == ""


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=300))
def test_ascii_text_folds_as_any_other_text(text: str) -> None:
    """ASCII takes a shorter way to its key; the key is the one the general fold gives."""
    assert search_key(text) == _folded(text)
    assert search_key(f"\t {text}\x7f") == _folded(f"\t {text}\x7f")


def test_the_upper_bound_covers_exactly_the_prefix() -> None:
    upper = prefix_upper_bound("jo")
    assert "jo" < "jo\U0010ffff" < upper <= "jp"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\ud7ff") == "\ue000"


def test_letters_with_a_stroke_and_ligatures_fold_to_plain_letters() -> None:
    assert search_key("Ørsted") == "orsted"
    assert search_key("Łukasz") == "lukasz"
    assert search_key("Đorđe") == "dorde"
    assert search_key("Søren Ærø") == "soren aero"
    assert search_key("Œuvre Þór") == "oeuvre thor"


def test_a_name_with_a_stroke_is_found_as_people_type_it(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, first_name="Łukasz", last_name="Ørsted")
    make_user(db, o.org, first_name="Lukas", last_name="Berg")
    assert sorted(_names(autocomplete(db, o.org.id, "luk"))) == ["Lukas Berg", "Łukasz Ørsted"]
    assert _names(autocomplete(db, o.org.id, "orst")) == ["Łukasz Ørsted"]
    assert _names(autocomplete(db, o.org.id, "Ørs")) == ["Łukasz Ørsted"]
    assert [u.display_name for u in search_users(db, o.org.id, q="ørsted")[0]] == ["Łukasz Ørsted"]


def test_the_migration_refolds_the_keys_written_before_it(databases: DatabaseFactory) -> None:
    url = databases.new_database()
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(writer(engine))) as session:
            o = make_org(session)
            user = make_user(session, o.org, first_name="Søren", last_name="Łukasz", email="bjørn@x.test")
            user_id = user.id
        downgrade(url, "0009")
        with engine.connect() as conn:
            keys = conn.execute(
                select(User.first_name_key, User.last_name_key, User.email_search_key).where(
                    User.id == user_id
                )
            ).one()
        assert tuple(keys) == ("søren", "łukasz", "bjørn@x.test")
        upgrade(url)
        with engine.connect() as conn:
            keys = conn.execute(
                select(User.first_name_key, User.last_name_key, User.email_search_key).where(
                    User.id == user_id
                )
            ).one()
        assert tuple(keys) == ("soren", "lukasz", "bjorn@x.test")
    finally:
        engine.dispose()


def test_jo_finds_johns_with_accents_and_joneses(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, first_name="Jöhn", last_name="Smith")
    make_user(db, o.org, first_name="Anna", last_name="Jones")
    make_user(db, o.org, first_name="Bob", last_name="Brown", email="bob@x.test")
    assert sorted(_names(autocomplete(db, o.org.id, "jo"))) == ["Anna Jones", "Jöhn Smith"]
    assert _names(autocomplete(db, o.org.id, "JÖ")) == ["Jöhn Smith", "Anna Jones"]


def test_umlaut_query_finds_the_capital_and_the_plain_forms(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, first_name="Özgür", last_name="Kaya")
    make_user(db, o.org, first_name="Oscar", last_name="Wilde")
    make_user(db, o.org, first_name="Uwe", last_name="Müller")
    assert sorted(_names(autocomplete(db, o.org.id, "ö"))) == ["Oscar Wilde", "Özgür Kaya"]
    assert _names(autocomplete(db, o.org.id, "mü")) == ["Uwe Müller"]
    assert _names(autocomplete(db, o.org.id, "mu")) == ["Uwe Müller"]


def test_other_scripts_match_by_prefix(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, first_name="Дмитрий", last_name="Иванов", email="d@x.test")
    make_user(db, o.org, first_name="Σωκράτης", last_name="Παππάς", email="s@x.test")
    make_user(db, o.org, first_name="太郎", last_name="山田", email="t@x.test")
    make_user(db, o.org, first_name="민준", last_name="김", email="k@x.test")
    assert _names(autocomplete(db, o.org.id, "дми")) == ["Дмитрий Иванов"]
    assert _names(autocomplete(db, o.org.id, "ИВ")) == ["Дмитрий Иванов"]
    assert _names(autocomplete(db, o.org.id, "σωκρα")) == ["Σωκράτης Παππάς"]
    assert _names(autocomplete(db, o.org.id, "παπ")) == ["Σωκράτης Παππάς"]
    assert _names(autocomplete(db, o.org.id, "山")) == ["太郎 山田"]
    assert _names(autocomplete(db, o.org.id, "太")) == ["太郎 山田"]
    assert _names(autocomplete(db, o.org.id, "김")) == ["민준 김"]


def test_email_prefix_matches(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, first_name="Pat", last_name="Lee", email="zed.lee@example.test")
    assert _names(autocomplete(db, o.org.id, "zed.l")) == ["Pat Lee"]
    assert autocomplete(db, o.org.id, "zed.x") == []


def test_exact_matches_come_first_then_first_names_then_the_rest(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, first_name="Anders", last_name="Berg", email="a1@x.test")
    make_user(db, o.org, first_name="Zoe", last_name="Andersson", email="z1@x.test")
    make_user(db, o.org, first_name="Ann", last_name="Young", email="ann@x.test")
    make_user(db, o.org, first_name="Bea", last_name="Ann", email="b1@x.test")
    names = _names(autocomplete(db, o.org.id, "ann"))
    assert names == ["Ann Young", "Bea Ann"]
    names = _names(autocomplete(db, o.org.id, "an"))
    # Nobody is exactly "an"; first-name matches before last-name matches, each by name.
    assert names == ["Anders Berg", "Ann Young", "Bea Ann", "Zoe Andersson"]


def test_the_limit_is_respected(db: Session) -> None:
    o = make_org(db)
    for i in range(12):
        make_user(db, o.org, first_name=f"Sam{i:02d}", last_name="Stone")
    assert len(autocomplete(db, o.org.id, "sam", limit=5)) == 5
    assert len(autocomplete(db, o.org.id, "s", limit=10)) == 10


def test_dismissed_deleted_and_system_users_are_never_suggested(db: Session) -> None:
    o = make_org(db)
    make_user(db, o.org, first_name="Joanna", last_name="Gone", dismissed=True)
    deleted = make_user(db, o.org, first_name="Jonas", last_name="Deleted")
    deleted.status = "deleted"
    db.flush()
    keep = make_user(db, o.org, first_name="Josef", last_name="Here")
    assert autocomplete(db, o.org.id, "jo") == [keep]
    assert autocomplete(db, o.org.id, "system") == []
    assert all(u.is_active for u in autocomplete(db, o.org.id, ""))


def test_other_organizations_are_never_suggested(db: Session) -> None:
    mine = make_org(db)
    theirs = make_org(db)
    make_user(db, theirs.org, first_name="Joachim", last_name="Elsewhere")
    assert autocomplete(db, mine.org.id, "joa") == []


def test_keys_follow_name_changes_made_through_the_orm(db: Session) -> None:
    o = make_org(db)
    user = make_user(db, o.org, first_name="Karl", last_name="Lund", email="kl@x.test")
    user.first_name = "Émile"
    user.display_name = "Émile Lund"
    db.flush()
    assert autocomplete(db, o.org.id, "emi") == [user]
    assert autocomplete(db, o.org.id, "karl") == []
    db.execute(
        update(User)
        .where(User.org_id == o.org.id, User.id == user.id)
        .values(last_name="Østergaard", display_name="Émile Østergaard")
        .execution_options(synchronize_session=False)
    )
    db.expire_all()
    assert _names(autocomplete(db, o.org.id, "øster")) == ["Émile Østergaard"]


def test_the_autocomplete_route_answers_user_refs_with_position_and_photo(
    client: TestClient, db: Session
) -> None:
    o = make_org(db)
    me = make_user(db, o.org, first_name="Mia", last_name="Ek")
    make_user(db, o.org, first_name="Jöhn", last_name="Smith", position="Engineer")
    make_user(db, o.org, first_name="Joan", last_name="Gone", dismissed=True)
    answer = client.get("/api/v1/users/autocomplete", params={"q": "jo", "limit": 10}, headers=auth(db, me))
    assert answer.status_code == 200, answer.text
    [item] = answer.json()
    assert set(item) == {"id", "display_name", "status", "is_system", "position", "photo_url"}
    assert (item["display_name"], item["position"], item["status"]) == ("Jöhn Smith", "Engineer", "active")
    assert item["photo_url"].startswith(f"/api/v1/users/{item['id']}/photo")
    assert (
        client.get("/api/v1/users/autocomplete", params={"limit": 500}, headers=auth(db, me)).status_code
        == 422
    )


NAME_PARTS = [
    "Jöhn",
    "jo",
    "Anna",
    "Ånn",
    "Öz",
    "oz",
    "Дима",
    "дм",
    "Σω",
    "σώ",
    "山田",
    "山",
    "Zoë",
    "ZOE",
    "Ngô",
]
# Up to a dozen people of one organization: (first name, last name, status).
PEOPLE = st.lists(
    st.tuples(
        st.sampled_from(NAME_PARTS),
        st.sampled_from(NAME_PARTS),
        st.sampled_from(["active", "active", "dismissed", "deleted"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=PEOPLE,
    query=st.sampled_from([*NAME_PARTS, "j", "a", "д", "σ", "z", "x"]),
    limit=st.integers(min_value=1, max_value=5),
)
def test_autocomplete_answers_active_matches_only_and_as_many_as_it_may(
    db: Session, people: list[tuple[str, str, str]], query: str, limit: int
) -> None:
    o = make_org(db)
    for i, (first, last, status) in enumerate(people):
        user = make_user(db, o.org, first_name=first, last_name=last, email=f"p{i}@x.test")
        user.status = status
    db.flush()
    prefix = search_key(query)
    everyone = db.scalars(select(User).where(User.org_id == o.org.id)).all()
    keys = ("first_name_key", "last_name_key", "display_name_key", "email_search_key")
    matches = {u.id for u in everyone if u.is_active and any(getattr(u, k).startswith(prefix) for k in keys)}
    exact = {u.id for u in everyone if u.is_active and any(getattr(u, k) == prefix for k in keys)}
    found = [u.id for u in autocomplete(db, o.org.id, query, limit)]
    assert [r.id for r in autocomplete_rows(db, o.org.id, query, limit)] == found  # what the route reads
    assert set(found) <= matches
    assert len(found) == len(set(found)) == min(limit, len(matches))
    if len(exact) <= limit:
        assert set(found[: len(exact)]) == exact


def test_an_empty_query_suggests_active_people_by_name_in_both_forms(db: Session) -> None:
    o = make_org(db)
    for first in ("Zoe", "Adam", "Mia"):
        make_user(db, o.org, first_name=first, last_name="Doe", email=f"{first.lower()}@x.test")
    gone = make_user(db, o.org, first_name="Aaron", last_name="Gone", email="aaron@x.test")
    gone.status = "dismissed"
    db.flush()
    users = autocomplete(db, o.org.id, "", 10)
    assert [r.id for r in autocomplete_rows(db, o.org.id, "  ", 10)] == [u.id for u in users]
    assert "Aaron Gone" not in _names(users)
    assert _names(users) == sorted(_names(users), key=search_key)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=PEOPLE,
    query=st.sampled_from([*NAME_PARTS, "j", "a", "д", "z", "x", ""]),
    status=st.sampled_from(["active", "dismissed", "all"]),
    few=st.sampled_from([0, 3, 2000]),
    per_page=st.integers(min_value=1, max_value=4),
)
def test_directory_search_finds_every_match_in_name_order_whichever_way_it_reads(
    db: Session,
    people: list[tuple[str, str, str]],
    query: str,
    status: str,
    few: int,
    per_page: int,
) -> None:
    # search_users probes each match by key when there are few and walks the organization in
    # name order when there are many; both must give the same pages and total.
    o = make_org(db)
    for i, (first, last, state) in enumerate(people):
        make_user(db, o.org, first_name=first, last_name=last, email=f"p{i}@x.test").status = state
    db.flush()
    prefix = search_key(query)
    keys = ("first_name_key", "last_name_key", "display_name_key", "email_search_key")
    everyone = db.scalars(select(User).where(User.org_id == o.org.id, User.is_system.is_(False))).all()
    expected = sorted(
        (
            u
            for u in everyone
            if status in ("all", u.status)
            and (not prefix or any(getattr(u, k).startswith(prefix) for k in keys))
        ),
        key=lambda u: (u.display_name_key, str(u.id)),
    )
    with patch.object(directory_search, "FEW_MATCHES", few):
        pages = []
        for page in range(1, len(expected) // per_page + 2):
            found, total = search_users(db, o.org.id, q=query, status=status, page=page, per_page=per_page)
            assert total == len(expected)
            pages.extend(found)
    assert [u.id for u in pages] == [u.id for u in expected]
