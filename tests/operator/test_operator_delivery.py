"""How a Gallery's pods deliver images and trust proxies, checked on the pure builders.

Inside a cluster the storage endpoint (http://minio.storage.svc:9000) means nothing to
a browser: without `storage.publicEndpoint` the web tier must stream image bytes (proxy
mode) and its Content-Security-Policy must not name the store; with it, presigned URLs
point there and img-src allows exactly that origin. The last test feeds the ConfigMap
the operator writes into the web tier's own settings, so the two cannot disagree.
"""

from __future__ import annotations

import pytest
from operator_samples import gallery_body

from picsource_operator.builders.config import config_data, config_hash
from picsource_operator.spec import SpecError, parse_gallery

INGRESS = {"host": "photos.example.com"}


def data(**spec: object) -> dict[str, str]:
    return config_data(parse_gallery(gallery_body(**spec)))


def storage(**extra: object) -> dict[str, object]:
    return {"endpoint": "http://minio.storage.svc:9000", "credentialsSecretRef": {"name": "photos-s3"},
            "bucket": "photos-bucket", **extra}


def test_without_a_public_endpoint_images_are_proxied_by_the_web_tier() -> None:
    env = data()
    assert env["PROXY_IMAGES"] == "true"
    assert "S3_PUBLIC_ENDPOINT" not in env


def test_a_public_endpoint_turns_on_presigned_urls_for_it() -> None:
    env = data(storage=storage(publicEndpoint="https://s3.example.com"))
    assert env["PROXY_IMAGES"] == "false"
    assert env["S3_PUBLIC_ENDPOINT"] == "https://s3.example.com"
    assert config_hash(parse_gallery(gallery_body(storage=storage(publicEndpoint="https://s3.example.com")))) \
        != config_hash(parse_gallery(gallery_body()))  # switching modes rolls the pods


def test_public_endpoint_must_be_a_url() -> None:
    with pytest.raises(SpecError, match="storage.publicEndpoint"):
        parse_gallery(gallery_body(storage=storage(publicEndpoint="s3.example.com")))


def test_trusted_proxy_hops_follow_the_ingress_unless_set() -> None:
    assert data()["TRUSTED_PROXY_HOPS"] == "0"
    assert data(web={"ingress": INGRESS})["TRUSTED_PROXY_HOPS"] == "1"
    assert data(web={"ingress": INGRESS, "trustedProxyHops": 2})["TRUSTED_PROXY_HOPS"] == "2"
    assert data(web={"trustedProxyHops": 1})["TRUSTED_PROXY_HOPS"] == "1"
    assert data(web={"ingress": INGRESS, "trustedProxyHops": 0})["TRUSTED_PROXY_HOPS"] == "0"
    with pytest.raises(SpecError, match="trustedProxyHops"):
        parse_gallery(gallery_body(web={"trustedProxyHops": 9}))


@pytest.mark.parametrize(("spec", "img_src"), [
    ({}, "img-src 'self' data: blob:"),
    ({"storage": storage(publicEndpoint="https://s3.example.com")},
     "img-src 'self' data: blob: https://s3.example.com"),
])
def test_the_web_tier_reads_the_configmap_into_a_matching_policy(spec: dict[str, object],
                                                                 img_src: str) -> None:
    from picsource_web.security import content_security_policy
    from picsource_web.settings import Settings

    env = {**data(**spec, web={"ingress": INGRESS}), "SECRET_KEY": "s" * 40,
           "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b", "MONGODB_URI": "mongodb://db:27017"}
    settings = Settings.from_env(env)
    assert settings.proxy_hops == 1
    policy = content_security_policy(settings).split("; ")
    assert img_src in policy
    assert "minio.storage.svc" not in "; ".join(policy)
