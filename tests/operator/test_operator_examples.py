"""The example Galleries in manifests/examples parse, and use only fields the CRD knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_operator_spec import crd_schema

from picsource_operator.builders import build_all
from picsource_operator.spec import parse_gallery

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "manifests/examples").glob("*.yaml"))


def unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    if not isinstance(value, dict) or schema.get("type") != "object":
        return []
    props = schema.get("properties")
    if props is None:
        return []  # free-form map (resources.requests)
    bad = []
    for key, sub in value.items():
        if key not in props:
            bad.append(f"{path}.{key}")
        else:
            bad += unknown_fields(props[key], sub, f"{path}.{key}")
    return bad


def test_all_four_examples_exist():
    assert {p.stem for p in EXAMPLES} >= {"minimal", "ingress", "autoscaling", "reclaim-delete"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_a_valid_gallery(path: Path):
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "picsource.io/v1alpha1" and doc["kind"] == "Gallery"
    assert unknown_fields(crd_schema()["properties"]["spec"], doc["spec"], "spec") == []
    doc["metadata"].update(namespace="default", uid="u", generation=1)
    g = parse_gallery(doc)
    assert build_all(g, secret_key="x" * 40, worker_replicas=1)
