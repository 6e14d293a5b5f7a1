"""Parsing a Gallery into typed settings; defaults match the CRD's; impossible specs fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_samples import gallery_body

from picsource_operator.spec import SpecError, parse_gallery

CRD = Path(__file__).resolve().parents[2] / "charts/picsource/crds/galleries.picsource.io.yaml"


def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]  # every version shares it
    return version["schema"]["openAPIV3Schema"]


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it (enough for this schema)."""
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    for name, sub in (schema.get("properties") or {}).items():
        if name not in value and "default" in sub:
            value[name] = sub["default"]
        if name in value:
            value[name] = apply_defaults(sub, value[name])
    return value


def test_defaults_equal_the_crd_defaults():
    raw = gallery_body()
    defaulted = gallery_body()
    defaulted["spec"] = apply_defaults(crd_schema()["properties"]["spec"], defaulted["spec"])
    assert defaulted["spec"] != raw["spec"]  # the CRD really defaults things
    assert parse_gallery(defaulted) == parse_gallery(raw)


def test_autoscaling_defaults_equal_the_crd_defaults():
    auto = {"autoscaling": {"maxReplicas": 5}}
    defaulted = gallery_body(worker={"autoscaling": {"maxReplicas": 5}})
    defaulted["spec"] = apply_defaults(crd_schema()["properties"]["spec"], defaulted["spec"])
    assert parse_gallery(defaulted) == parse_gallery(gallery_body(worker=auto))


def test_every_field_has_a_description():
    missing: list[str] = []

    def walk(schema: dict[str, Any], path: str) -> None:
        if path != "metadata" and not path.startswith("metadata.") and not schema.get("description"):
            missing.append(path)
        for name, sub in (schema.get("properties") or {}).items():
            walk(sub, f"{path}.{name}" if path else name)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{path}[]")
        if isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], f"{path}{{}}")

    root = crd_schema()
    for name, sub in root["properties"].items():
        if name != "metadata":
            walk(sub, name)
    assert missing == []


def test_parsed_values():
    g = parse_gallery(gallery_body(
        web={"replicas": 3, "ingress": {"host": "a.example.com"}},
        worker={"autoscaling": {"minReplicas": 2, "maxReplicas": 8, "targetBacklogPerWorker": 4,
                                "scaleDownStabilizationSeconds": 30}},
        reclaimPolicy="Delete", paused=True,
    ))
    assert (g.name, g.namespace, g.uid, g.generation) == ("photos", "team-a", "1234-uid", 3)
    assert g.web.replicas == 3 and g.web.ingress is not None and g.web.ingress.host == "a.example.com"
    auto = g.worker.autoscaling
    assert auto is not None
    assert (auto.min_replicas, auto.max_replicas, auto.target_backlog_per_worker,
            auto.scale_down_stabilization_seconds) == (2, 8, 4, 30)
    assert g.reclaim_policy == "Delete" and g.paused
    assert g.storage.port == 9000 and not g.storage.secure


@pytest.mark.parametrize(("spec", "message"), [
    ({"worker": {"replicas": 2, "autoscaling": {"maxReplicas": 3}}}, "mutually exclusive"),
    ({"worker": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}}, "minReplicas"),
    ({"worker": {"autoscaling": {"minReplicas": 1}}}, "maxReplicas is required"),
    ({"web": {"ingress": {"tlsSecretName": "x"}}}, "requires web.ingress.host"),
    ({"reclaimPolicy": "Destroy"}, "reclaimPolicy"),
    ({"auth": {"signup": "invite-only"}}, "spec.auth.signup"),
    ({"storage": {"endpoint": "ftp://x", "bucket": "abc", "credentialsSecretRef": {"name": "s"}}}, "endpoint"),
    ({"storage": {"endpoint": "http://x:9000", "credentialsSecretRef": {"name": "s"}}}, "storage.bucket"),
    ({"database": {"name": "db"}}, "database.uriSecretRef.name"),
])
def test_impossible_specs_raise_spec_error(spec, message):
    with pytest.raises(SpecError, match=message):
        parse_gallery(gallery_body(**spec))
