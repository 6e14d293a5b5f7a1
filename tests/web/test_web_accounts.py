"""Accounts against real MongoDB: sign-up, sign-in, CSRF, API tokens, sessions (sign-in
throttling has its own file, test_web_login_throttle.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from flask import Flask

from picsource_core.mongo import TOKENS, USERS
from picsource_web.services.tokens import TokenService
from tests.support.images import jpeg
from tests.support.web import PASSWORD, WebClient, app_services


def test_signup_signs_in_and_stores_an_scrypt_hash(app: Flask, web_client: Callable[[], WebClient]) -> None:
    client = web_client()
    page = client.get("/signup").get_data(as_text=True)
    assert "At least 10 characters" in page  # the policy is shown as hints
    response = client.signup("Carol")
    assert response.status_code == 302 and response.headers["Location"].endswith("/upload")
    doc = app_services(app).db[USERS].find_one({"username_key": "carol"})
    assert doc is not None and doc["password_hash"].startswith("scrypt$")
    assert PASSWORD not in doc["password_hash"]
    assert "carol" in client.get("/").get_data(as_text=True)


def test_signup_errors_are_clear(web_client: Callable[[], WebClient]) -> None:
    client = web_client()
    short = client.signup("dave", "short")
    assert short.status_code == 400
    assert "at least 10 characters" in short.get_data(as_text=True)
    bad_name = client.signup("../etc", PASSWORD)
    assert bad_name.status_code == 400 and "Username must be" in bad_name.get_data(as_text=True)
    assert client.signup("dave").status_code == 302
    other = web_client()
    taken = other.signup("DAVE")
    assert taken.status_code == 409 and "already taken" in taken.get_data(as_text=True)


def test_login_logout_and_wrong_password(alice: WebClient, web_client: Callable[[], WebClient]) -> None:
    alice.logout()
    assert alice.get("/").status_code == 302  # signed out: the home page sends to /public
    wrong = alice.login("alice", "not the password!")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.get_data(as_text=True)
    unknown = alice.login("nobody", PASSWORD)
    assert unknown.status_code == 401
    ok = alice.login("alice")
    assert ok.status_code == 302
    assert alice.get("/").status_code == 200


def test_session_cookie_flags(app: Flask, web_client: Callable[[], WebClient]) -> None:
    client = web_client()
    response = client.signup("erin")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_login_redirect_only_to_local_paths(alice: WebClient) -> None:
    alice.logout()
    response = alice.post("/login", {"username": "alice", "password": PASSWORD, "next": "//evil.example/x"})
    assert response.status_code == 302 and "evil" not in response.headers["Location"]


def test_csrf_required_on_every_state_change(alice: WebClient) -> None:
    image_id = alice.upload_id(jpeg())
    for url in ("/logout", "/settings/tokens", f"/images/{image_id}/delete", f"/images/{image_id}/edit",
                "/upload", "/settings/password", f"/images/{image_id}/share-link"):
        missing = alice.post(url, {"name": "x", "title": "hacked"}, csrf=False)
        assert missing.status_code == 400, url
        assert "did not come from this site" in missing.get_data(as_text=True)
        forged = alice.post(url, {"csrf_token": "forged" * 8, "name": "x"}, csrf=False)
        assert forged.status_code == 400, url
    # nothing happened: still signed in, the image is still there, unedited
    page = alice.get(f"/images/{image_id}")
    assert page.status_code == 200 and "hacked" not in page.get_data(as_text=True)


def test_login_form_needs_csrf_too(web_client: Callable[[], WebClient]) -> None:
    client = web_client()
    client.signup("frank")
    fresh = web_client()
    response = fresh.client.post("/login", data={"username": "frank", "password": PASSWORD})
    assert response.status_code == 400


def test_api_tokens_create_list_use_revoke(app: Flask, alice: WebClient) -> None:
    created = alice.post("/settings/tokens", {"name": "backup script"})
    assert created.status_code == 201
    page = created.get_data(as_text=True)
    token = page.split('data-new-token')[0].rsplit('value="', 1)[1].split('"')[0]
    assert token.startswith("psk_")
    stored = app_services(app).db[TOKENS].find_one({})
    assert stored is not None and token not in str(stored) and len(stored["token_hash"]) == 64
    # listed (by name and hint, never the token) on a later visit
    later = alice.get("/settings/").get_data(as_text=True)
    assert "backup script" in later and token not in later
    # the token authenticates without a cookie and without CSRF
    anonymous = app.test_client()
    image_id = alice.upload_id(jpeg())
    assert anonymous.get(f"/images/{image_id}").status_code == 404
    with_token = anonymous.get(f"/images/{image_id}", headers={"Authorization": f"Bearer {token}"})
    assert with_token.status_code == 200
    # revoke: it stops working
    token_id = str(stored["_id"])
    assert alice.post(f"/settings/tokens/{token_id}/revoke").status_code == 302
    assert anonymous.get(f"/images/{image_id}", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert app_services(app).db[TOKENS].count_documents({}) == 0


def test_a_token_records_its_last_use_to_the_minute_not_on_every_request(app: Flask) -> None:
    db = app_services(app).db
    now = [datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)]
    tokens = TokenService(db, clock=lambda: now[0])
    owner = ObjectId()
    plain, record = tokens.create(owner, "import script")
    assert record.last_used_at is None

    def last_used() -> datetime | None:
        return tokens.list(owner)[0].last_used_at

    first = now[0]
    grant = tokens.grant_for(plain)
    assert grant is not None and grant.user_id == owner and not grant.read_only
    assert last_used() == first
    # every request within the minute is allowed, and the record is not written again
    for seconds in (1, 30, 59):
        now[0] = first + timedelta(seconds=seconds)
        assert tokens.grant_for(plain) is not None
        assert last_used() == first
    # a minute on, it is
    now[0] = first + timedelta(minutes=1, seconds=5)
    assert tokens.grant_for(plain) is not None
    assert last_used() == now[0]
    # an unknown token is still refused
    assert tokens.grant_for(plain + "x") is None
    assert db[TOKENS].count_documents({}) == 1


def test_cannot_revoke_someone_elses_token(app: Flask, alice: WebClient, bob: WebClient) -> None:
    alice.post("/settings/tokens", {"name": "mine"})
    token_id = str(app_services(app).db[TOKENS].find_one({})["_id"])  # type: ignore[index]
    assert bob.post(f"/settings/tokens/{token_id}/revoke").status_code == 404
    assert app_services(app).db[TOKENS].count_documents({}) == 1


def test_password_change_signs_out_other_sessions(app: Flask, alice: WebClient,
                                                  web_client: Callable[..., WebClient]) -> None:
    other_device = web_client(app)
    other_device.login("alice")
    assert other_device.get("/settings/").status_code == 200
    new = "an even better passphrase"
    wrong = alice.post("/settings/password", {"current_password": "nope nope nope", "new_password": new,
                                              "new_password2": new})
    assert wrong.status_code == 400
    ok = alice.post("/settings/password", {"current_password": PASSWORD, "new_password": new,
                                           "new_password2": new})
    assert ok.status_code == 302
    assert alice.get("/settings/").status_code == 200  # this session continues
    assert other_device.get("/settings/").status_code == 302  # the other one is signed out
    assert alice.logout().status_code == 302
    assert alice.login("alice", new).status_code == 302


def test_configured_admin_and_demo_accounts(make_app: Callable[..., Flask],
                                            web_client: Callable[..., WebClient]) -> None:
    from picsource_web.settings import Account

    app = make_app(admin=Account("root", "admin passphrase 1"), demo=Account("demo", "demo passphrase 1"))
    admin = web_client(app)
    assert admin.login("root", "admin passphrase 1").status_code == 302
    assert admin.get("/admin/").status_code == 200
    demo = web_client(app)
    assert demo.login("demo", "demo passphrase 1").status_code == 302
    assert demo.get("/admin/").status_code == 404  # the admin area does not exist for others
    make_app(admin=Account("root", "admin passphrase 1"))  # a second replica: idempotent
    assert app_services(app).db[USERS].count_documents({"username_key": "root"}) == 1


def test_closed_signup(make_app: Callable[..., Flask],
                       web_client: Callable[..., WebClient]) -> None:
    client = web_client(make_app(signup="closed"))
    assert client.get("/signup").status_code == 403
    assert client.signup("mallory").status_code == 403
