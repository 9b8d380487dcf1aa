"""CSRF on every state-changing request (htmx's included), security headers on every response,
session cookie flags, and a production app that refuses to start with a guessable SECRET_KEY."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from security.headers import CONTENT_SECURITY_POLICY
from tests.support.databases import own_app
from tests.support.recordings import make_transcription, recordings_removed_afterwards
from tests.support.web import csrf_token
from tests.support.worker import REPO_ROOT

EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def assert_security_headers(response, what: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp == CONTENT_SECURITY_POLICY, what
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert not re.search(r"https?:", csp), "no third-party origin"
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (what, name)


@pytest.fixture()
def transcription_id(app):
    with recordings_removed_afterwards(app):
        with app.app_context():
            transcription_id = make_transcription(None, status="running").id
        yield transcription_id


def test_every_route_and_every_error_has_the_headers(app, client, anonymous_client, transcription_id, monkeypatch):
    responses = []
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: "app.css" if m.group(1) == "filename"
                     else str(transcription_id), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for who, browser in (("admin", client), ("anonymous", anonymous_client)):
                responses.append((f"{who} {method} {url}", browser.open(url, method=method)))
    responses += [
        ("404", client.get("/no/such/page")),
        ("405", client.put("/")),
        ("400 CSRF", client.post("/", data={})),
        ("static", client.get("/static/vendor/htmx.min.js")),
    ]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    responses.append(("413", client.post("/", data={"csrf_token": csrf_token(client),
                                                    "audio": (io.BytesIO(b"x" * 4096), "a.mp3")})))
    statuses = set()
    for what, response in responses:
        assert_security_headers(response, what)
        statuses.add(response.status_code)
    assert {200, 302, 400, 404, 405, 413}.issubset(statuses), statuses
    page = client.get("/")
    assert page.headers["Cache-Control"] == "no-store", "private pages stay out of caches"
    assert "no-store" not in client.get("/static/app.css").headers.get("Cache-Control", "")


def test_a_server_error_page_has_the_headers(app, tmp_path):
    with own_app(app, tmp_path, f"sqlite:///{tmp_path / 'own.sqlite3'}", PROPAGATE_EXCEPTIONS=False) as own:
        @own.get("/boom")
        def boom():
            raise RuntimeError("boom")

        response = own.test_client().get("/boom")
    assert response.status_code == 500 and "Something went wrong" in response.get_data(as_text=True)
    assert_security_headers(response, "500")


def test_pages_have_no_inline_script_or_style(client, transcription_id):
    for url in ("/", f"/transcriptions/{transcription_id}", "/users/", "/account/password", "/jobs/"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), f"inline script in {url}"
        assert " style=" not in html and "<style" not in html, f"inline style in {url}"
        assert re.search(r"\son\w+=", html) is None, f"inline event handler in {url}"
        assert '"includeIndicatorStyles": false' in html, "htmx must not inject its <style>"
    for vendor in ("https://", "http://"):
        assert vendor not in client.get("/").get_data(as_text=True)


def test_every_state_changing_route_refuses_a_request_without_csrf_token(app, client, transcription_id):
    posts = []
    for rule in app.url_map.iter_rules():
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", str(transcription_id), rule.rule)
            response = client.open(url, method=method, data={"username": "x", "password": "y"})
            assert response.status_code == 400, f"{method} {url}: {response.status_code}"
            assert "Form expired" in response.get_data(as_text=True)
            posts.append(url)
    assert len(posts) >= 8 and "/logout" in posts and "/login" in posts and "/setup" in posts


def test_htmx_requests_carry_the_token_as_a_header(client, transcription_id):
    page = client.get(f"/transcriptions/{transcription_id}").get_data(as_text=True)
    match = re.search(r"<body hx-headers='([^']+)'>", page)
    assert match, "the body tells htmx which header to send"
    token = re.search(r'"X-CSRFToken": "([^"]+)"', match.group(1)).group(1)
    assert token == csrf_token(client, f"/transcriptions/{transcription_id}")
    url = f"/transcriptions/{transcription_id}/cancel"
    htmx = {"HX-Request": "true"}
    assert client.post(url, headers=htmx).status_code == 400, "an htmx POST without the header is refused"
    assert client.post(url, headers={**htmx, "X-CSRFToken": "forged"}).status_code == 400
    accepted = client.post(url, headers={**htmx, "X-CSRFToken": token})
    assert accepted.status_code == 302, "the header token is accepted"


def test_session_cookie_flags(app):
    browser = app.test_client(user=None)
    response = browser.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie, "plain HTTP in development and tests"
    from config import ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE is True


START_IN_PRODUCTION = "import app; app.create_app(); print('started')"


@pytest.mark.parametrize("secret_key, message", [
    (None, "SECRET_KEY is not set"),
    ("", "SECRET_KEY is not set"),
    ("dev-only-secret-key-change-me", "SECRET_KEY is not set (the development default is public"),
    ("short-key", "SECRET_KEY has 9 characters; APP_ENV=production needs at least 32"),
])
def test_production_refuses_to_start_without_a_real_secret_key(test_env, tmp_path, secret_key, message):
    env = {key: value for key, value in test_env.items() if key != "SECRET_KEY"}
    env = {**env, "APP_ENV": "production", "PATH": "/usr/bin:/bin"}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    result = subprocess.run([sys.executable, "-c", START_IN_PRODUCTION], cwd=tmp_path, env={
        **env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "started" not in result.stdout
    assert "InsecureSecretKey" in result.stderr and message in result.stderr
    assert "secrets.token_hex(32)" in result.stderr, "says how to make one"


def test_production_starts_with_a_real_secret_key(test_env, tmp_path):
    env = {**test_env, "APP_ENV": "production", "SECRET_KEY": "k" * 8 + "a-long-random-value-0123456789abcdef",
           "PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", START_IN_PRODUCTION], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "started" in result.stdout
