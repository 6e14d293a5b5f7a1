"""spec.auth.signup's four modes, the sign-up rate limits and spec.limits.quota.galleryBytes
and spec.limits.trashDays, from spec to pod environment.

Pure: parse_gallery and the ConfigMap builder, no cluster. The web tier, the operator and
the CRD each list the sign-up modes (the layers may not import each other), so a test
holds the three lists equal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from operator_samples import gallery_body

from picsource_core.trash import DEFAULT_TRASH_DAYS, MAX_TRASH_DAYS, trash_days
from picsource_operator.builders.config import config_data, config_hash
from picsource_operator.spec import RATE_LIMIT_PATTERN, SIGNUP_MODES, SpecError, parse_gallery
from picsource_web.settings import SIGNUP_MODES as WEB_SIGNUP_MODES
from picsource_web.settings import RateLimit, Settings

CRD = Path(__file__).resolve().parents[2] / "charts/picsource/crds/galleries.picsource.io.yaml"


def _spec_schema() -> dict:
    (version,) = [v for v in yaml.safe_load(CRD.read_text())["spec"]["versions"] if v["storage"]]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


@pytest.mark.parametrize("mode", ["open", "closed", "invite", "approval"])
def test_each_signup_mode_reaches_the_pods_as_SIGNUP(mode):
    g = parse_gallery(gallery_body(auth={"signup": mode}))
    assert g.auth.signup == mode
    assert config_data(g)["SIGNUP"] == mode


def test_signup_modes_agree_between_operator_web_and_crd():
    crd_enum = _spec_schema()["auth"]["properties"]["signup"]["enum"]
    assert tuple(crd_enum) == SIGNUP_MODES == WEB_SIGNUP_MODES


def test_an_unknown_signup_mode_names_the_field_and_the_choices():
    with pytest.raises(SpecError, match=r"spec\.auth\.signup must be one of open, closed, invite, approval"):
        parse_gallery(gallery_body(auth={"signup": "invite-only"}))


def test_gallery_bytes_defaults_to_unlimited_and_reaches_the_pods():
    default = parse_gallery(gallery_body())
    assert default.limits.gallery_bytes == 0
    assert config_data(default)["GALLERY_QUOTA_BYTES"] == "0"  # the web tier reads 0 as unlimited
    capped = parse_gallery(gallery_body(limits={"quota": {"galleryBytes": 5 * 1024**3}}))
    assert config_data(capped)["GALLERY_QUOTA_BYTES"] == str(5 * 1024**3)
    assert config_hash(capped) != config_hash(default)  # changing the cap rolls the web pods


def test_gallery_bytes_crd_default_matches_the_parser():
    quota = _spec_schema()["limits"]["properties"]["quota"]["properties"]
    assert quota["galleryBytes"]["default"] == parse_gallery(gallery_body()).limits.gallery_bytes
    assert quota["galleryBytes"]["minimum"] == 0


@pytest.mark.parametrize("value", [-1, "5GB", 1.5, True])
def test_a_bad_gallery_bytes_names_the_field(value):
    with pytest.raises(SpecError, match=r"spec\.limits\.quota\.galleryBytes"):
        parse_gallery(gallery_body(limits={"quota": {"galleryBytes": value}}))


def test_signup_rate_limits_default_and_reach_the_pods():
    data = config_data(parse_gallery(gallery_body()))
    assert (data["SIGNUP_RATE_LIMIT"], data["SIGNUP_GLOBAL_RATE_LIMIT"]) == ("5/1h", "100/1h")
    custom = parse_gallery(gallery_body(auth={"signupRateLimit": "3/10m", "signupGlobalRateLimit": "20/1h"}))
    data = config_data(custom)
    assert (data["SIGNUP_RATE_LIMIT"], data["SIGNUP_GLOBAL_RATE_LIMIT"]) == ("3/10m", "20/1h")


@pytest.mark.parametrize(("key", "value"), [
    ("signupRateLimit", "five"), ("signupRateLimit", "0/1h"), ("signupGlobalRateLimit", "100/1d"),
    ("signupGlobalRateLimit", 100),
])
def test_a_bad_signup_rate_limit_names_the_field(key, value):
    with pytest.raises(SpecError, match=rf"spec\.auth\.{key}"):
        parse_gallery(gallery_body(auth={key: value}))


def test_the_crd_checks_rate_limits_with_the_parser_s_pattern():
    auth = _spec_schema()["auth"]["properties"]
    for key in ("signupRateLimit", "signupGlobalRateLimit"):
        assert auth[key]["pattern"] == RATE_LIMIT_PATTERN


def test_the_web_tier_accepts_what_the_operator_writes():
    """The ConfigMap's SIGNUP and GALLERY_QUOTA_BYTES parse as web settings (0 = unlimited)."""
    for mode, cap in (("invite", 0), ("approval", 7_000_000)):
        data = config_data(parse_gallery(gallery_body(
            auth={"signup": mode, "signupRateLimit": "3/10m", "signupGlobalRateLimit": "999999999/999999999h"},
            limits={"quota": {"galleryBytes": cap}})))
        env = {"SECRET_KEY": "k" * 40, "MONGODB_URI": "mongodb://localhost:1", "S3_ACCESS_KEY": "a",
               "S3_SECRET_KEY": "b", **data}
        settings = Settings.from_env(env)
        assert settings.signup == mode
        assert settings.gallery_quota_bytes == (cap or None)
        assert settings.signup_rate_limit == RateLimit(3, 600)
        assert settings.signup_global_rate_limit == RateLimit(999999999, 999999999 * 3600)


def test_trash_days_default_to_core_s_and_reach_the_pods_as_TRASH_DAYS():
    default = parse_gallery(gallery_body())
    assert config_data(default)["TRASH_DAYS"] == str(DEFAULT_TRASH_DAYS)
    week = parse_gallery(gallery_body(limits={"trashDays": 7}))
    assert config_data(week)["TRASH_DAYS"] == "7"
    assert trash_days(config_data(week)) == 7  # what web and worker parse from the ConfigMap
    assert config_hash(week) != config_hash(default)  # a change rolls the pods


def test_trash_days_crd_bounds_match_the_parsers():
    days = _spec_schema()["limits"]["properties"]["trashDays"]
    assert (days["default"], days["minimum"], days["maximum"]) == (DEFAULT_TRASH_DAYS, 1, MAX_TRASH_DAYS)


@pytest.mark.parametrize("value", [0, -3, MAX_TRASH_DAYS + 1, "30", 7.5, True])
def test_a_bad_trash_days_names_the_field(value):
    with pytest.raises(SpecError, match=r"spec\.limits\.trashDays must be a whole number of days"):
        parse_gallery(gallery_body(limits={"trashDays": value}))
