"""#14 item 8: sessions end on the server, tokens expire, may be read-only, and die with
the password; password hashes follow the OWASP scrypt cost and are upgraded on sign-in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from picsource_core.config import ConfigurationError
from picsource_core.mongo import TOKENS, USERS
from picsource_core.queue import utcnow
from picsource_web import sessions
from picsource_web.services import passwords, tokens
from picsource_web.settings import Settings
from tests.support.clock import FakeClock
from tests.support.images import jpeg
from tests.support.web import PASSWORD, WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem

COOKIE = "picsource_session"


def _new_token(client: WebClient, **form: str) -> str:
    created = client.post("/settings/tokens", {"name": "script", **form})
    assert created.status_code == 201, created.get_data(as_text=True)
    page = created.get_data(as_text=True)
    return page.split("data-new-token")[0].rsplit('value="', 1)[1].split('"')[0]


def test_logout_ends_the_session_on_the_server(alice: WebClient, web_client: Callable[..., WebClient]) -> None:
    cookie = alice.client.get_cookie(COOKIE)
    assert cookie is not None
    thief = web_client()  # a copy of the cookie taken before sign-out
    thief.client.set_cookie(COOKIE, cookie.value)
    assert thief.get("/settings/").status_code == 200
    assert alice.logout().status_code == 302
    assert thief.get("/settings/").status_code == 302  # the copied cookie no longer works
    assert thief.client.get("/api/v1/me").status_code == 401
    assert alice.login("alice").status_code == 302  # signing in again works
    assert alice.get("/settings/").status_code == 200


def test_read_only_token_reads_but_never_writes(app: Flask, alice: WebClient) -> None:
    image_id = alice.upload_id(jpeg())
    api = ApiClient(app, _new_token(alice, scope="read"))
    assert api.get("/api/v1/me").status_code == 200
    assert api.get(f"/api/v1/images/{image_id}").status_code == 200
    assert api.get("/api/v1/images").status_code == 200
    for response in (api.upload((jpeg((10, 200, 30)), "b.jpg")), api.patch(f"/api/v1/images/{image_id}", {"title": "x"}),
                     api.delete(f"/api/v1/images/{image_id}")):
        body = assert_problem(response, 403, "forbidden")
        assert "read-only" in body["detail"]
    # the HTML routes too (a bearer request needs no CSRF token there)
    html_delete = api.client.post(f"/images/{image_id}/delete", headers=api.headers)
    assert html_delete.status_code == 403
    assert alice.get(f"/images/{image_id}").status_code == 200
    assert "read-only" in alice.get("/settings/").get_data(as_text=True)
    write = ApiClient(app, _new_token(alice))  # the default scope still writes
    assert write.delete(f"/api/v1/images/{image_id}").status_code == 204


def test_token_expiry(app: Flask, alice: WebClient) -> None:
    api = ApiClient(app, _new_token(alice, expires_days="30"))
    stored = app_services(app).db[TOKENS].find_one({})
    assert stored is not None
    delta = stored["expires_at"] - utcnow()
    assert timedelta(days=29, hours=23) < delta <= timedelta(days=30)
    assert api.get("/api/v1/me").status_code == 200
    app_services(app).db[TOKENS].update_one({"_id": stored["_id"]},
                                            {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}})
    assert_problem(api.get("/api/v1/me"), 401, "unauthorized")
    never = ApiClient(app, _new_token(alice, expires_days=""))
    assert never.get("/api/v1/me").status_code == 200
    for days in ("-3", "²", "٣", "1e3", "9" * 400):  # "²".isdigit() but int("²") raises
        bad = alice.post("/settings/tokens", {"name": "odd", "expires_days": days})
        assert bad.status_code == 400 and "expir" in bad.get_data(as_text=True).lower(), days
    # a token stored before expiry and scope existed never expires and may write
    legacy = _new_token(alice)
    app_services(app).db[TOKENS].update_one({"token_hash": tokens.hash_token(legacy)},
                                            {"$unset": {"expires_at": "", "scope": ""}})
    image_id = alice.upload_id(jpeg())
    assert ApiClient(app, legacy).delete(f"/api/v1/images/{image_id}").status_code == 204


def test_password_change_revokes_every_token(app: Flask, alice: WebClient) -> None:
    api = ApiClient(app, _new_token(alice))
    assert api.get("/api/v1/me").status_code == 200
    new = "an even better passphrase"
    changed = alice.post("/settings/password", {"current_password": PASSWORD, "new_password": new,
                                                "new_password2": new})
    assert changed.status_code == 302
    assert_problem(api.get("/api/v1/me"), 401, "unauthorized")
    assert app_services(app).db[TOKENS].count_documents({}) == 0


def test_the_default_scrypt_cost_is_owasp(web_env: dict[str, str]) -> None:
    assert passwords.DEFAULT_COST == passwords.ScryptCost(n=2**17, r=8, p=1)
    env = {k: v for k, v in web_env.items() if k != "PASSWORD_SCRYPT_N"}
    assert Settings.from_env(env).password_cost == passwords.DEFAULT_COST
    encoded = passwords.hash_password("a long passphrase")  # maxmem allows the 128 MiB it needs
    assert encoded.startswith("scrypt$131072$8$1$")
    assert passwords.verify_password("a long passphrase", encoded)
    for bad in ("1000", "4096", str(2**18), "lots"):
        with pytest.raises(ConfigurationError, match="PASSWORD_SCRYPT_N"):
            Settings.from_env({**env, "PASSWORD_SCRYPT_N": bad})


def test_sign_in_rehashes_a_hash_with_older_parameters(app: Flask, alice: WebClient) -> None:
    users = app_services(app).db[USERS]
    old = passwords.hash_password(PASSWORD, passwords.ScryptCost(n=2**12, r=8, p=1))
    users.update_one({"username_key": "alice"}, {"$set": {"password_hash": old}})
    alice.logout()
    assert alice.login("alice").status_code == 302
    cost = app_services(app).settings.password_cost
    stored = users.find_one({"username_key": "alice"})["password_hash"]  # type: ignore[index]
    assert stored != old and stored.startswith(f"scrypt${cost.n}${cost.r}${cost.p}$")
    assert passwords.verify_password(PASSWORD, stored)
    assert passwords.needs_rehash(old, cost) and not passwords.needs_rehash(stored, cost)


def _sets_session(response: object) -> bool:
    return any(v.startswith(f"{COOKIE}=") for v in response.headers.getlist("Set-Cookie"))  # type: ignore[attr-defined]


def test_the_session_cookie_is_sent_again_once_an_hour_not_on_every_page(app: Flask, alice: WebClient) -> None:
    """Its 14-day expiry moves when it is sent again: at most once per RENEW_SECONDS while
    nothing in it changes, and at once when something does (here: signing in)."""
    clock = FakeClock(1_000_000.0)
    app.extensions[sessions.CLOCK] = clock
    alice.get("/")  # the first page in the new period sends it
    assert not _sets_session(alice.get("/")) and not _sets_session(alice.get("/settings/"))
    clock.now += sessions.RENEW_SECONDS
    renewed = alice.get("/")
    assert _sets_session(renewed) and "Expires=" in renewed.headers["Set-Cookie"]
    assert not _sets_session(alice.get("/"))
    assert alice.get("/settings/").status_code == 200  # still signed in throughout
    assert alice.logout().status_code == 302 and alice.login("alice").status_code == 302
    alice.get("/")  # shows (and so removes) the sign-in's message: a change, sent
    assert not _sets_session(alice.get("/"))  # the sign-in itself sent the new period
