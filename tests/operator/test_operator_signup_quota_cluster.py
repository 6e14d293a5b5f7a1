"""The CRD and the operator against the real API server: the four sign-up modes and the
gallery storage cap are accepted, defaulted and refused as documented, and reach the
pods' ConfigMap."""

from __future__ import annotations

from typing import Any

import pytest
from operator_runner import Env, OperatorProcess

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster]

CONFIG = "/api/v1/namespaces/{ns}/configmaps/{name}-config"


@pytest.mark.parametrize(("spec", "message"), [
    ({"auth": {"signup": "invites"}}, 'Unsupported value: "invites"'),
    ({"limits": {"quota": {"galleryBytes": -1}}}, "galleryBytes"),
    ({"limits": {"quota": {"galleryBytes": "5GB"}}}, "galleryBytes"),
    ({"auth": {"signupRateLimit": "5 per hour"}}, "signupRateLimit"),
])
def test_bad_signup_modes_and_caps_are_refused_at_admission(gallery_env: Env, spec: dict[str, Any],
                                                            message: str) -> None:
    doc = gallery_env.gallery("bad")
    doc["spec"].update(spec)
    result = gallery_env.apply(doc, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_modes_and_the_cap_reach_the_pods(gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    env.apply(env.gallery("invited", auth={"signup": "invite"},
                          limits={"quota": {"galleryBytes": 50 * 1024**3}}))
    env.apply(env.gallery("approved", auth={"signup": "approval", "signupRateLimit": "2/10m"}))
    stored = env.get("approved") or {}
    assert stored["spec"]["limits"]["quota"]["galleryBytes"] == 0  # defaulted: unlimited

    def config(name: str) -> dict[str, str]:
        return (env.obj(CONFIG.replace("{name}", name)) or {}).get("data") or {}

    wait_until(lambda: bool(config("invited")) and bool(config("approved")), 30,
               "both galleries' ConfigMaps")
    assert (config("invited")["SIGNUP"], config("invited")["GALLERY_QUOTA_BYTES"]) == \
        ("invite", str(50 * 1024**3))
    assert (config("approved")["SIGNUP"], config("approved")["GALLERY_QUOTA_BYTES"]) == ("approval", "0")
    assert (config("approved")["SIGNUP_RATE_LIMIT"], config("approved")["SIGNUP_GLOBAL_RATE_LIMIT"]) == \
        ("2/10m", "100/1h")  # the CRD's default for the one not given
