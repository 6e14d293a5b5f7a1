"""#14 item 7: the configured admin name is bound to ADMIN_PASSWORD, never to whoever
registered it first (a signup while start-up work was deferred could claim it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from flask import Flask

from picsource_core.mongo import USERS
from picsource_web.app import create_app
from picsource_web.context import EXTENSION
from picsource_web.settings import Account, Settings
from tests.support.web import PASSWORD, WebClient, app_services

ADMIN = Account("root", "admin passphrase 1")


def test_signup_of_the_configured_admin_name_is_refused_while_bootstrap_is_deferred(
        web_settings: Settings, web_client: Callable[..., WebClient]) -> None:
    app = create_app(replace(web_settings, admin=ADMIN), bootstrap=False)
    app.config["TESTING"] = True
    boot = app.extensions[EXTENSION + ".bootstrap"]
    boot._last_try = time.monotonic()  # as if the start-up work had just failed (storage down)
    squatter = web_client(app)
    for name in ("root", "ROOT", " Root "):
        refused = squatter.signup(name, "squatter passphrase 1")
        assert refused.status_code == 409, name
        assert "reserved" in refused.get_data(as_text=True)
    assert app_services(app).db[USERS].count_documents({}) == 0
    boot._last_try = 0.0
    boot.ensure()  # storage is back: the configured admin is created with its own secret
    assert boot.done
    admin = web_client(app)
    assert admin.login(ADMIN.username, ADMIN.password).status_code == 302
    assert admin.get("/admin/").status_code == 200


def test_an_existing_account_with_the_admin_name_is_not_made_admin(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient],
        caplog: pytest.LogCaptureFixture) -> None:
    squatter = web_client(make_app())  # registered before ADMIN_USERNAME was configured
    assert squatter.signup("root", "squatter passphrase 1").status_code == 302
    with caplog.at_level(logging.ERROR):
        app = make_app(admin=ADMIN)
    doc = app_services(app).db[USERS].find_one({"username_key": "root"})
    assert doc is not None and not doc["is_admin"]
    assert any("ADMIN_USERNAME" in r.getMessage() and "not granted" in r.getMessage()
               for r in caplog.records if r.levelno >= logging.ERROR)
    client = web_client(app)
    assert client.login("root", "squatter passphrase 1").status_code == 302
    assert client.get("/admin/").status_code == 404
    assert client.login("root", ADMIN.password).status_code == 401  # nor is the account taken over


def test_the_admin_secret_grants_and_a_changed_admin_password_keeps_admin(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    owner = web_client(make_app())  # the operator's own account, later named as admin
    assert owner.signup("root", ADMIN.password).status_code == 302
    app = make_app(admin=ADMIN)
    admin = web_client(app)
    assert admin.login("root", ADMIN.password).status_code == 302
    assert admin.get("/admin/").status_code == 200
    new = "the admin's new passphrase"
    changed = admin.post("/settings/password", {"current_password": ADMIN.password, "new_password": new,
                                                "new_password2": new})
    assert changed.status_code == 302
    again = make_app(admin=ADMIN)  # a restart with the old ADMIN_PASSWORD still configured
    admin_again = web_client(again)
    assert admin_again.login("root", new).status_code == 302
    assert admin_again.get("/admin/").status_code == 200


def test_other_names_still_sign_up(make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    client = web_client(make_app(admin=ADMIN))
    assert client.signup("rooted", PASSWORD).status_code == 302
