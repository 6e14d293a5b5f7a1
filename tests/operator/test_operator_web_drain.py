"""The web tier drains before it stops: a rolling update loses no request.

Found on the real node (tests/e2e/test_e2e_real_cluster.py): without a preStop pause,
kube-proxy still sends new connections to a pod whose gunicorn already got SIGTERM and
closed its listeners, and a keep-alive client sees "connection reset" (2 of ~900
requests in a `helm upgrade`). The pause lets the endpoint removal reach kube-proxy
first; the grace period must cover the pause plus gunicorn's own graceful timeout.
"""

from __future__ import annotations

from operator_samples import gallery_body

from picsource_operator.builders.web import build_web_deployment
from picsource_operator.spec import parse_gallery

GUNICORN_GRACEFUL_SECONDS = 20  # web/picsource_web/gunicorn_conf.py default


def test_web_pods_pause_before_sigterm_within_their_grace_period() -> None:
    deployment = build_web_deployment(parse_gallery(gallery_body()), "hash")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert 3 <= pause <= 15
    assert pod["terminationGracePeriodSeconds"] >= pause + GUNICORN_GRACEFUL_SECONDS
