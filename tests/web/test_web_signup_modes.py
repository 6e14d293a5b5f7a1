"""Sign-up modes (open, closed, invite, approval), the sign-up throttle and the gallery's
storage cap, against real SecantusDB and MinIO.

Expiry and throttle windows run on a FakeClock set far in the future (so the TTL index
never removes a counter mid-test); nothing sleeps. Concurrency is provoked with a barrier,
and the assertions hold whichever request wins.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from picsource_core.config import ConfigurationError
from picsource_core.mongo import IMAGES, INVITES, USAGE
from picsource_core.storage import ORIGINALS
from picsource_core.usage import GalleryUsage, StorageFull
from picsource_web.services.errors import ServiceError
from picsource_web.services.invites import InviteService, code_hash, new_code, parse_days
from picsource_web.services.signup_limits import SignupThrottle
from picsource_web.settings import Account, RateLimit, Settings
from tests.support import images as samples
from tests.support.clock import FakeClock
from tests.support.web import PASSWORD, WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for

ADMIN = Account("root", "admin passphrase 1")
#: 2096: windows and expiries on this clock are never reached by MongoDB's TTL monitor.
FUTURE = 4_000_000_000.0
HOUR = 3600


def signup_from(client: WebClient, username: str, addr: str = "127.0.0.1", **fields: str) -> TestResponse:
    form = {"username": username, "password": PASSWORD, "password2": PASSWORD, **fields}
    return client.post("/signup", form, environ_base={"REMOTE_ADDR": addr})


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def admin_of(app: Flask, web_client: Callable[..., WebClient]) -> WebClient:
    admin = web_client(app)
    assert admin.login(ADMIN.username, ADMIN.password).status_code == 302
    return admin


# --- modes ------------------------------------------------------------------------------
def test_open_mode_signs_up_and_in_at_once(make_app: Callable[..., Flask],
                                           web_client: Callable[..., WebClient]) -> None:
    client = web_client(make_app(signup="open"))
    assert "Invite code" not in client.get("/signup").get_data(as_text=True)
    assert client.signup("olga").status_code == 302
    assert client.get("/upload").status_code == 200


def test_closed_mode_refuses_every_sign_up(make_app: Callable[..., Flask],
                                           web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="closed")
    client = web_client(app)
    assert client.get("/signup").status_code == 403
    assert client.signup("mallory").status_code == 403
    assert app_services(app).users.by_username("mallory") is None


def test_invite_mode_needs_a_valid_code_and_each_code_works_once(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="invite", admin=ADMIN)
    svc = app_services(app)
    page = web_client(app).get("/signup?invite=ABCD-EFGH").get_data(as_text=True)
    assert "Invite code" in page and 'value="ABCD-EFGH"' in page  # the link pre-fills it

    admin = admin_of(app, web_client)
    response = admin.post("/admin/invites", {"days": "3", "note": "for nina"})
    assert response.status_code == 302
    flashed = admin.get("/admin/").get_data(as_text=True)
    code = flashed.split("New invite (shown only now): ")[1].split(" ")[0]
    assert "for nina" in flashed and "/signup?invite=" in flashed
    stored = svc.db[INVITES].find_one({})
    assert stored is not None and code not in str(stored)  # only a hash is kept

    missing = signup_from(web_client(app), "nina")
    assert missing.status_code == 400 and "invite code is required" in missing.get_data(as_text=True)
    wrong = signup_from(web_client(app), "nina", invite="WXYZ-WXYZ-WXYZ-WXYZ")
    assert wrong.status_code == 400 and "not valid" in wrong.get_data(as_text=True)
    bad_password = signup_from(web_client(app), "nina", invite=code, password="short", password2="short")
    assert bad_password.status_code == 400  # refused before the invite is spent

    nina = web_client(app)
    assert signup_from(nina, "nina", invite=code.lower().replace("-", " ")).status_code == 302
    assert nina.get("/upload").status_code == 200
    again = signup_from(web_client(app), "oscar", invite=code)
    assert again.status_code == 403 and "already been used" in again.get_data(as_text=True)
    assert "by nina" in admin.get("/admin/").get_data(as_text=True)


def test_a_taken_username_gives_the_invite_back(make_app: Callable[..., Flask],
                                                web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="invite")
    invites = app_services(app).invites
    first, _ = invites.create("root")
    second, _ = invites.create("root")
    assert signup_from(web_client(app), "pia", invite=first).status_code == 302
    taken = signup_from(web_client(app), "pia", invite=second)
    assert taken.status_code == 409
    assert signup_from(web_client(app), "quinn", invite=second).status_code == 302


def test_two_sign_ups_with_one_code_exactly_one_wins(make_app: Callable[..., Flask],
                                                     web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="invite")
    code, _ = app_services(app).invites.create("root")
    clients = [web_client(app), web_client(app)]
    responses = in_parallel(lambda: signup_from(clients[0], "rita", invite=code),
                            lambda: signup_from(clients[1], "sam", invite=code))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [302, 403], statuses
    loser = next(r for r in responses if r.status_code == 403)
    assert "already been used" in loser.get_data(as_text=True)
    users = app_services(app).users
    assert [users.by_username(n) is not None for n in ("rita", "sam")].count(True) == 1


def test_claiming_is_atomic_among_many_replicas(make_app: Callable[..., Flask]) -> None:
    apps = [make_app(signup="invite") for _ in range(2)]
    replicas = [app_services(app).invites for app in apps]
    code, _ = replicas[0].create("root")
    results = in_parallel(*[
        (lambda invites=replicas[i % 2]: _try_claim(invites, code)) for i in range(8)
    ])
    assert results.count("claimed") == 1 and results.count("invite_used") == 7


def _try_claim(invites: InviteService, code: str) -> str:
    try:
        invites.claim(code)
    except ServiceError as err:
        return err.reason
    return "claimed"


def test_an_expired_invite_is_refused_clearly(make_app: Callable[..., Flask],
                                              web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="invite", admin=ADMIN)
    clock = FakeClock(FUTURE)
    app_services(app).invites.clock = clock
    code, invite = app_services(app).invites.create("root", days=2)
    clock.now += 2 * 86400 - 1
    fresh, _ = app_services(app).invites.create("root", days=2)
    clock.now += 1  # the first invite's last second has passed
    expired = signup_from(web_client(app), "tara", invite=code)
    assert expired.status_code == 403 and "has expired" in expired.get_data(as_text=True)
    assert signup_from(web_client(app), "tara", invite=fresh).status_code == 302
    admin_page = admin_of(app, web_client).get("/admin/").get_data(as_text=True)
    assert ">expired<" in admin_page


def test_invite_days_are_checked(make_app: Callable[..., Flask],
                                 web_client: Callable[..., WebClient]) -> None:
    admin = admin_of(make_app(signup="invite", admin=ADMIN), web_client)
    assert admin.post("/admin/invites", {"days": "0"}).status_code == 400
    assert admin.post("/admin/invites", {"days": "91"}).status_code == 400
    for days in ("soon", "²", "0007", ""):
        assert admin.post("/admin/invites", {"days": days}).status_code == 400, days


def test_approval_mode_pending_account_cannot_sign_in_until_approved(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="approval", admin=ADMIN)
    users = app_services(app).users
    client = web_client(app)
    assert "approved by an administrator" in client.get("/signup").get_data(as_text=True)
    response = signup_from(client, "uwe")
    assert response.status_code == 200 and "waiting for approval" in response.get_data(as_text=True)
    assert client.get("/upload").status_code == 302  # not signed in
    refused = client.login("uwe")
    assert refused.status_code == 403 and "waiting for approval" in refused.get_data(as_text=True)
    wrong = client.login("uwe", "not the password at all")
    assert wrong.status_code == 401  # a stranger learns nothing about the pending account
    assert signup_from(web_client(app), "uwe").status_code == 409  # the name is held

    admin = admin_of(app, web_client)  # the configured account: approved without the field
    pending = users.by_username("uwe")
    assert pending is not None and pending.pending
    assert users.get(pending.id) is None  # what a session or token resolves to: nobody yet
    assert "uwe" in admin.get("/admin/").get_data(as_text=True)
    assert admin.post(f"/admin/users/{pending.id}/approve").status_code == 302
    approved = users.get(pending.id)
    assert approved is not None and not approved.pending
    assert client.login("uwe").status_code == 302
    assert client.get("/upload").status_code == 200
    assert admin.post(f"/admin/users/{pending.id}/reject").status_code == 302
    assert users.by_username("uwe") is not None  # approved accounts cannot be rejected


def test_rejecting_a_pending_sign_up_deletes_it(make_app: Callable[..., Flask],
                                                web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="approval", admin=ADMIN)
    users = app_services(app).users
    assert signup_from(web_client(app), "vera").status_code == 200
    pending = users.by_username("vera")
    assert pending is not None
    admin = admin_of(app, web_client)
    assert admin.post(f"/admin/users/{pending.id}/reject").status_code == 302
    assert users.by_username("vera") is None
    assert web_client(app).login("vera").status_code == 401
    assert admin.post("/admin/users/not-an-id/approve").status_code == 404
    assert web_client(app).post(f"/admin/users/{pending.id}/approve").status_code == 302  # to sign-in


def test_existing_accounts_are_unaffected_by_approval_mode(make_app: Callable[..., Flask],
                                                           web_client: Callable[..., WebClient]) -> None:
    before = make_app(signup="open")
    assert web_client(before).signup("wim").status_code == 302
    after = make_app(signup="approval")
    assert web_client(after).login("wim").status_code == 302


# --- throttle ---------------------------------------------------------------------------
def _throttle(app: Flask, per_client: int, everyone: int) -> FakeClock:
    """Give ``app`` these limits per hour, on a fake clock (returned)."""
    svc = app_services(app)
    clock = FakeClock(FUTURE)
    svc.signup_throttle = SignupThrottle(svc.db, RateLimit(per_client, HOUR), RateLimit(everyone, HOUR),
                                         clock=clock)
    return clock


def test_sign_ups_are_throttled_per_client(make_app: Callable[..., Flask],
                                           web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="open")
    clock = _throttle(app, per_client=2, everyone=100)
    assert signup_from(web_client(app), "xena", "10.0.0.1").status_code == 302
    assert signup_from(web_client(app), "xena", "10.0.0.1").status_code == 409  # a failed try counts
    over = signup_from(web_client(app), "yuri", "10.0.0.1")
    assert over.status_code == 429
    assert "Too many sign-up attempts from your network" in over.get_data(as_text=True)
    assert 0 < int(over.headers["Retry-After"]) <= HOUR
    assert app_services(app).users.by_username("yuri") is None
    assert signup_from(web_client(app), "yuri", "10.0.0.2").status_code == 302  # another client
    clock.now += HOUR
    assert signup_from(web_client(app), "zoe", "10.0.0.1").status_code == 302  # a new window


def test_sign_ups_are_throttled_globally_across_replicas(make_app: Callable[..., Flask],
                                                         web_client: Callable[..., WebClient]) -> None:
    replicas = [make_app(signup="open"), make_app(signup="open")]
    for app in replicas:
        _throttle(app, per_client=5, everyone=3)
    for i in range(3):
        assert signup_from(web_client(replicas[i % 2]), f"user{i}", f"10.0.1.{i}").status_code == 302
    busy = signup_from(web_client(replicas[1]), "late", "10.0.1.9")
    assert busy.status_code == 429 and "Retry-After" in busy.headers
    assert "Sign-up is busy" in busy.get_data(as_text=True)


def test_concurrent_attempts_never_pass_the_limit(make_app: Callable[..., Flask],
                                                  web_client: Callable[..., WebClient]) -> None:
    app = make_app(signup="open")
    _throttle(app, per_client=3, everyone=100)
    clients = [web_client(app) for _ in range(6)]
    responses = in_parallel(*[
        (lambda c=c, i=i: signup_from(c, f"para{i}", "10.0.2.1")) for i, c in enumerate(clients)
    ])
    assert sorted(r.status_code for r in responses) == [302, 302, 302, 429, 429, 429]


# --- gallery storage cap ----------------------------------------------------------------
def _originals(app: Flask) -> list[str]:
    return [key for key, _ in app_services(app).store.list_objects(f"{ORIGINALS}/")]


def test_gallery_cap_refuses_the_upload_that_would_pass_it(make_app: Callable[..., Flask],
                                                           web_client: Callable[..., WebClient]) -> None:
    a, b, c = samples.noisy_jpeg(1), samples.noisy_jpeg(2), samples.noisy_jpeg(3)
    app = make_app(gallery_quota_bytes=len(a) + len(b) + len(c) - 1)
    svc = app_services(app)
    alice, bob = web_client(app), web_client(app)
    alice.signup("alice")
    bob.signup("bob")
    first = alice.upload_id(a)
    bob.upload_id(b)
    full = bob.upload(c)
    assert full.status_code == 507
    body = full.get_json()
    assert "This gallery's storage is full" in body["detail"]
    assert svc.db[IMAGES].count_documents({}) == 2 and len(_originals(app)) == 2  # nothing half-written
    assert GalleryUsage(svc.db).current().bytes == len(a) + len(b)
    assert alice.post(f"/images/{first}/delete").status_code == 302  # to the trash: still counted
    assert GalleryUsage(svc.db).current().bytes == len(a) + len(b)
    assert bob.upload(c).status_code == 507
    assert alice.post(f"/images/{first}/purge").status_code == 302
    assert GalleryUsage(svc.db).current().bytes == len(b)
    assert bob.upload(c).status_code == 201  # the purge freed the space


def test_gallery_cap_is_a_clear_api_problem(make_app: Callable[..., Flask],
                                            web_client: Callable[..., WebClient]) -> None:
    a, b = samples.noisy_jpeg(4), samples.noisy_jpeg(5)
    app = make_app(gallery_quota_bytes=len(a) + len(b) - 1)
    web_client(app).signup("carol")
    api = ApiClient(app, token_for(app, "carol"))
    body = assert_problem(api.upload((a, "a.jpg"), (b, "b.jpg")), 507, "quota_exceeded")
    assert body["reason"] == "quota_gallery_bytes" and "storage is full" in body["detail"]
    assert app_services(app).db[IMAGES].count_documents({}) == 0
    api.upload_one(a)
    assert_problem(api.upload((b, "b.jpg")), 507, "quota_exceeded")


def test_parallel_uploads_never_pass_the_gallery_cap(make_app: Callable[..., Flask],
                                                     web_client: Callable[..., WebClient]) -> None:
    a, b = samples.noisy_jpeg(6), samples.noisy_jpeg(7)
    app = make_app(gallery_quota_bytes=max(len(a), len(b)) + 1)
    alice, bob = web_client(app), web_client(app)
    alice.signup("alice")
    bob.signup("bob")
    responses = in_parallel(lambda: alice.upload(a), lambda: bob.upload(b))
    assert sorted(r.status_code for r in responses) == [201, 507]
    svc = app_services(app)
    assert svc.db[IMAGES].count_documents({}) == 1 and len(_originals(app)) == 1
    (doc,) = svc.db[IMAGES].find({})
    assert GalleryUsage(svc.db).current().bytes == doc["bytes"]


def test_the_total_starts_from_existing_images_and_a_recount_repairs_drift(mongo_db: Any) -> None:
    mongo_db[IMAGES].insert_many([{"bytes": 100}, {"bytes": 250}])  # a gallery older than the counter
    usage = GalleryUsage(mongo_db)
    assert (usage.current().images, usage.current().bytes) == (2, 350)
    usage.reserve(50, cap=400)
    with pytest.raises(StorageFull):
        usage.reserve(1, cap=400)
    usage.release(50)
    mongo_db[USAGE].update_one({}, {"$inc": {"bytes": 999}})  # drift (a crashed upload)
    assert usage.recount().bytes == 350 and usage.current().bytes == 350


def test_the_admin_sweep_recounts_the_total(make_app: Callable[..., Flask],
                                            web_client: Callable[..., WebClient]) -> None:
    app = make_app(admin=ADMIN, gallery_quota_bytes=10_000_000)
    db = app_services(app).db
    user = web_client(app)
    user.signup("dora")
    user.upload_id(samples.noisy_jpeg(8))
    (doc,) = db[IMAGES].find({})
    db[USAGE].update_one({}, {"$inc": {"bytes": 9_000_000}})  # drift: a crashed upload's reservation
    admin = admin_of(app, web_client)
    assert admin.post("/admin/sweep").status_code == 302
    assert GalleryUsage(db).current().bytes == doc["bytes"]
    assert f"{doc['bytes'] / 1e6:.1f} of 10.0 MB gallery cap" in admin.get("/admin/").get_data(as_text=True)


# --- pure helpers -----------------------------------------------------------------------
def test_codes_are_long_unambiguous_and_typed_forgivingly() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[A-HJKMNP-Z2-9]{4}(-[A-HJKMNP-Z2-9]{4}){3}", code), code
    code = next(iter(codes))
    assert code_hash(code) == code_hash(f"  {code.lower().replace('-', ' ')} ")
    assert code_hash(code) != code_hash(code[:-1])


@pytest.mark.parametrize(("text", "days"), [("1", 1), (" 7 ", 7), ("90", 90)])
def test_invite_days_parse(text: str, days: int) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["", "0", "91", "-1", "7.5", "²", "0007", "seven", None])
def test_invite_days_refuse_with_a_400_naming_days(text: str | None) -> None:
    with pytest.raises(ServiceError, match="days") as err:
        parse_days(text)
    assert err.value.status == 400


# --- settings ---------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "variable"), [
    ({"SIGNUP": "invite-only"}, "SIGNUP"),
    ({"SIGNUP_RATE_LIMIT": "five"}, "SIGNUP_RATE_LIMIT"),
    ({"SIGNUP_RATE_LIMIT": "0/1h"}, "SIGNUP_RATE_LIMIT"),
    ({"SIGNUP_GLOBAL_RATE_LIMIT": "100 per hour"}, "SIGNUP_GLOBAL_RATE_LIMIT"),
    ({"GALLERY_QUOTA_BYTES": "lots"}, "GALLERY_QUOTA_BYTES"),
    ({"GALLERY_QUOTA_BYTES": "-5"}, "GALLERY_QUOTA_BYTES"),
])
def test_bad_settings_name_the_variable(web_env: dict[str, str], changes: dict[str, str],
                                        variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({**web_env, **changes})


def test_settings_read_modes_limits_and_the_gallery_cap(web_env: dict[str, str]) -> None:
    env = {k: v for k, v in web_env.items() if not k.startswith("SIGNUP")}
    defaults = Settings.from_env(env)
    assert defaults.signup == "open" and defaults.gallery_quota_bytes is None
    assert defaults.signup_rate_limit == RateLimit(5, HOUR)
    assert defaults.signup_global_rate_limit == RateLimit(100, HOUR)
    assert Settings.from_env({**env, "GALLERY_QUOTA_BYTES": "0"}).gallery_quota_bytes is None
    custom = Settings.from_env({**env, "SIGNUP": "Approval", "SIGNUP_RATE_LIMIT": "3/10m",
                                "SIGNUP_GLOBAL_RATE_LIMIT": "50/1h", "GALLERY_QUOTA_BYTES": "5GB"})
    assert custom == replace(defaults, signup="approval", signup_rate_limit=RateLimit(3, 600),
                             signup_global_rate_limit=RateLimit(50, HOUR),
                             gallery_quota_bytes=5_000_000_000)
