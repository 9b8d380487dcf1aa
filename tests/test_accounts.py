"""Accounts: first start, signing in and out, changing a password, admins adding users, the CLI."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from extensions import db
from models import User
from tests.support.accounts import PASSWORD, sign_in
from tests.support.databases import own_app
from tests.support.web import csrf_token


def form_post(client, url: str, **fields):
    return client.post(url, data={"csrf_token": csrf_token(client, url), **fields})


@pytest.fixture()
def first_start(app, tmp_path):
    """An app that has never had a user."""
    with own_app(app, tmp_path, f"sqlite:///{tmp_path / 'fresh.sqlite3'}") as fresh:
        yield fresh


def test_first_start_sends_every_page_to_the_admin_account_page(first_start):
    browser = first_start.test_client(user=None)
    for path in ("/", "/transcriptions/1", "/jobs/", "/users/", "/login", "/account/password"):
        response = browser.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/setup", path
    assert "Create the admin account" in browser.get("/setup").get_data(as_text=True)
    assert browser.get("/healthz").status_code == 200


def test_first_account_is_an_admin_and_the_page_closes_after_it(first_start):
    browser = first_start.test_client(user=None)
    refused = form_post(browser, "/setup", username="Ada", password="short", confirm="short")
    assert refused.status_code == 400 and "at least 10 characters" in refused.get_data(as_text=True)
    response = form_post(browser, "/setup", username="Ada", password=PASSWORD, confirm=PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Upload and transcribe" in browser.get("/").get_data(as_text=True), "signed in at once"
    with first_start.app_context():
        users = db.session.scalars(select(User)).all()
        assert [(u.username, u.is_admin) for u in users] == [("ada", True)]
        assert users[0].password_hash.startswith("scrypt:") and PASSWORD not in users[0].password_hash
    stranger = first_start.test_client(user=None)
    assert stranger.get("/setup").headers["Location"] == "/login"
    # A second first-run form, filled in before the first was sent, creates nothing.
    late = form_post(stranger, "/login", username="x", password="y")  # any form, for a token
    assert late.status_code == 400
    token = csrf_token(stranger, "/login")
    again = stranger.post("/setup", data={"csrf_token": token, "username": "eve", "password": PASSWORD,
                                          "confirm": PASSWORD})
    assert again.headers["Location"] == "/login"
    with first_start.app_context():
        assert db.session.scalars(select(User.username)).all() == ["ada"]


def test_sign_in_and_out(app):
    with app.app_context():
        from accounts import create_user

        create_user("Grace", PASSWORD)
    browser = app.test_client(user=None)
    assert browser.get("/transcriptions/1").headers["Location"] == "/login?next=/transcriptions/1"
    wrong = form_post(browser, "/login", username="grace", password="not the password")
    assert wrong.status_code == 400 and "Wrong username or password." in wrong.get_data(as_text=True)
    unknown = form_post(browser, "/login", username="nobody", password=PASSWORD)
    assert "Wrong username or password." in unknown.get_data(as_text=True)

    signed_in = browser.post("/login?next=/users/", data={"csrf_token": csrf_token(browser, "/login"),
                                                          "username": " GRACE ", "password": PASSWORD})
    assert signed_in.headers["Location"] == "/users/"
    page = browser.get("/").get_data(as_text=True)
    assert "grace" in page and "Sign out" in page
    assert "/users/" not in page and "/jobs/" not in page, "no admin links for a user"
    assert browser.get("/users/").status_code == 404, "admin pages do not exist for users"

    assert browser.post("/logout").status_code == 400, "signing out is a form with a CSRF token too"
    out = browser.post("/logout", data={"csrf_token": csrf_token(browser, "/")})
    assert out.headers["Location"] == "/login"
    assert browser.get("/").headers["Location"] == "/login?next=/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_sign_in_never_redirects_off_site(app, target):
    with app.app_context():
        from accounts import create_user

        if db.session.scalars(select(User).where(User.username == "hopper")).one_or_none() is None:
            create_user("hopper", PASSWORD)
    browser = app.test_client(user=None)
    response = browser.post("/login", query_string={"next": target},
                            data={"csrf_token": csrf_token(browser, "/login"), "username": "hopper",
                                  "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_changing_the_password_ends_the_other_sessions(app):
    with app.app_context():
        from accounts import create_user

        create_user("linus", PASSWORD)
    laptop, phone = app.test_client(user=None), app.test_client(user=None)
    for browser in (laptop, phone):
        form_post(browser, "/login", username="linus", password=PASSWORD)
        assert browser.get("/").status_code == 200
    wrong = form_post(laptop, "/account/password", current_password="nope", new_password="a new password",
                      confirm="a new password")
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(as_text=True)
    changed = form_post(laptop, "/account/password", current_password=PASSWORD, new_password="a new password",
                        confirm="a new password")
    assert changed.status_code == 302
    assert laptop.get("/").status_code == 200, "this session stays signed in"
    assert phone.get("/").status_code == 302, "the other session is signed out"
    assert form_post(phone, "/login", username="linus", password="a new password").status_code == 302


def test_admin_adds_a_user_who_can_then_sign_in(app, client):
    refused = form_post(client, "/users/", username="../bad name", password=PASSWORD)
    assert refused.status_code == 400 and "A username is 1 to 64 characters" in refused.get_data(as_text=True)
    added = form_post(client, "/users/", username="Margaret", password=PASSWORD)
    assert added.status_code == 302
    assert "margaret" in client.get("/users/").get_data(as_text=True)
    taken = form_post(client, "/users/", username="margaret", password=PASSWORD)
    assert "is taken" in taken.get_data(as_text=True)
    browser = app.test_client(user=None)
    assert form_post(browser, "/login", username="margaret", password=PASSWORD).status_code == 302


def test_flask_users_create_and_set_password(app, runner):
    result = runner.invoke(args=["users", "create", "Barbara", "--admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "User barbara created as an admin." in result.output
    assert PASSWORD not in result.output
    again = runner.invoke(args=["users", "create", "barbara", "--password", PASSWORD])
    assert again.exit_code == 1 and "is taken" in again.output
    short = runner.invoke(args=["users", "create", "kay", "--password", "short"])
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    changed = runner.invoke(args=["users", "set-password", "barbara", "--password", "another password"])
    assert changed.exit_code == 0, changed.output
    listing = runner.invoke(args=["users", "list"])
    assert "barbara  (admin)" in listing.output
    browser = app.test_client(user=None)
    assert form_post(browser, "/login", username="barbara", password="another password").status_code == 302


def test_every_route_but_the_public_ones_asks_to_sign_in(app):
    """Walks the URL map: a new route is private unless it is added to PUBLIC_ENDPOINTS."""
    from security.login import PUBLIC_ENDPOINTS

    browser = app.test_client(user=None)
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": csrf_token(browser, "/login")} if method == "POST" else None
            response = browser.open(url, method=method, data=data)
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/login"), (method, url)
            checked.append((method, rule.endpoint))
    assert len(checked) >= 15, checked


def test_an_htmx_poll_without_a_session_is_told_to_load_the_login_page(app):
    response = app.test_client(user=None).get("/transcriptions/1/progress", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/transcriptions/1/progress"


def test_a_session_of_a_deleted_user_is_signed_out(app):
    browser = app.test_client(user=None)
    sign_in(browser, "ephemeral")
    assert browser.get("/").status_code == 200
    with app.app_context():
        db.session.delete(db.session.scalars(select(User).where(User.username == "ephemeral")).one())
        db.session.commit()
    assert browser.get("/").status_code == 302
    assert browser.get("/transcriptions/1/progress").status_code == 302
