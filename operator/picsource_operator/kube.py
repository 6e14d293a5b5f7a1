"""A thin, dict-in dict-out Kubernetes API edge on top of the `kubernetes` client's transport.

Why not the typed API classes: the builders produce plain dicts, server-side
apply wants exactly those dicts (`application/apply-patch+yaml`, JSON being
valid YAML), and skipping model (de)serialisation keeps the operator small and
fast with many galleries. Authentication and TLS come from the client's
configuration (in-cluster ServiceAccount, else KUBECONFIG).
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from picsource_operator import constants

Obj = dict[str, Any]

# Collection paths of every kind the operator touches (namespace filled in).
_PATHS: dict[str, str] = {
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Ingress": "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
    "Gallery": f"/apis/{constants.API_VERSION}/namespaces/{{ns}}/{constants.PLURAL}",
    "GalleryBackup": f"/apis/{constants.API_VERSION}/namespaces/{{ns}}/{constants.BACKUP_PLURAL}",
    "Namespace": "/api/v1/namespaces",  # cluster-scoped: the namespace argument is ignored
    "Lease": "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",  # leader election (leader.py)
}


class KubeError(RuntimeError):
    """The API server refused a request; `status` is the HTTP code."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason
        self.message = message


class ForeignObject(KubeError):
    """A same-named object exists that this operator does not manage: never taken over."""

    def __init__(self, kind: str, namespace: str, name: str, managers: list[str]) -> None:
        who = ", ".join(sorted(set(managers))) or "someone else"
        super().__init__(409, f"{kind} {namespace}/{name} already exists and is managed by {who}, "
                         "not by this Gallery; delete or rename it, or choose another Gallery name",
                         "ObjectConflict")
        self.kind = kind
        self.name = name


def is_ours(existing: Obj, desired: Obj) -> bool:
    """Whether ``existing`` is an object this operator made for the owner ``desired`` names:
    it carries one of the same owner references, or our field manager applied to it."""
    meta = existing.get("metadata") or {}
    owners = {ref.get("uid") for ref in (desired.get("metadata") or {}).get("ownerReferences") or []}
    if owners & {ref.get("uid") for ref in meta.get("ownerReferences") or []}:
        return True
    return any(entry.get("manager") == constants.FIELD_MANAGER for entry in meta.get("managedFields") or [])


def object_path(kind: str, namespace: str, name: str | None = None) -> str:
    base = _PATHS[kind].format(ns=namespace)
    return f"{base}/{name}" if name else base


class Kube:
    """One authenticated connection pool; share it across threads (urllib3 is thread-safe)."""

    def __init__(self, api_client: k8s_client.ApiClient) -> None:
        self.api = api_client

    @classmethod
    def from_environment(cls) -> Kube:
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(client_configuration=configuration)
        configuration.connection_pool_maxsize = 32
        return cls(k8s_client.ApiClient(configuration))

    def request(self, method: str, path: str, *, body: Any = None,
                query: list[tuple[str, str]] | None = None,
                content_type: str = "application/json",
                timeout: float | tuple[float, float] = (5, 30)) -> Obj:
        """One API call; `timeout` is (connect, read) seconds, or one number bounding it all."""
        method, url, headers, payload, _ = self.api.param_serialize(
            method=method, resource_path=path, query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"],
        )
        response = self.api.call_api(method, url, header_params=headers, body=payload,
                                     _request_timeout=timeout)
        data = response.read()
        text = data.decode() if data else ""
        if not 200 <= response.status < 300:
            reason, message = "", text
            try:
                status = json.loads(text)
                reason, message = status.get("reason", ""), status.get("message", text)
            except ValueError:
                pass
            raise KubeError(response.status, message, reason)
        return json.loads(text) if text else {}

    # --- objects ------------------------------------------------------------------
    def apply(self, obj: Obj) -> Obj:
        """Server-side apply `obj` as field manager picsource-operator.

        Conflicts (fields another manager set) are taken over only on an object that is
        ours (``is_ours``: a hand edit of our Deployment is drift, and reverted); on a
        same-named object somebody else made, ForeignObject is raised and nothing changes.
        The common case costs one request; a conflict, two more.
        """
        meta = obj["metadata"]
        path = object_path(obj["kind"], meta["namespace"], meta["name"])
        query = [("fieldManager", constants.FIELD_MANAGER)]
        try:
            return self.request("PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml")
        except KubeError as err:
            if err.status != 409:
                raise
        existing = self.get(obj["kind"], meta["namespace"], meta["name"]) or {}
        if existing and not is_ours(existing, obj):
            managers = [str(m.get("manager")) for m in existing.get("metadata", {}).get("managedFields") or []]
            raise ForeignObject(obj["kind"], meta["namespace"], meta["name"], managers)
        return self.request("PATCH", path, body=obj, query=[*query, ("force", "true")],
                            content_type="application/apply-patch+yaml")

    def get(self, kind: str, namespace: str, name: str,
            timeout: float | tuple[float, float] = (5, 30)) -> Obj | None:
        try:
            return self.request("GET", object_path(kind, namespace, name), timeout=timeout)
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def create(self, obj: Obj, timeout: float | tuple[float, float] = (5, 30)) -> Obj:
        """POST a new object (409 when it exists); for objects with no apply semantics (Lease)."""
        meta = obj["metadata"]
        return self.request("POST", object_path(obj["kind"], meta["namespace"]), body=obj, timeout=timeout)

    def replace(self, obj: Obj, timeout: float | tuple[float, float] = (5, 30)) -> Obj:
        """PUT an object; with metadata.resourceVersion set, a 409 means someone wrote first."""
        meta = obj["metadata"]
        return self.request("PUT", object_path(obj["kind"], meta["namespace"], meta["name"]), body=obj,
                            timeout=timeout)

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete an object; False when it was already gone."""
        try:
            self.request("DELETE", object_path(kind, namespace, name),
                         body={"propagationPolicy": "Background"})
            return True
        except KubeError as err:
            if err.status == 404:
                return False
            raise

    def list_objects(self, kind: str, namespace: str, label_selector: str = "") -> list[Obj]:
        """Every object of a kind in a namespace (one page: used for a Gallery's backups)."""
        query = [("labelSelector", label_selector)] if label_selector else []
        return list(self.request("GET", object_path(kind, namespace), query=query).get("items") or [])

    def patch_gallery_status(self, namespace: str, name: str, status: Obj) -> Obj:
        """Merge-patch the Gallery's status subresource (conditions are replaced whole)."""
        return self.patch_status("Gallery", namespace, name, status)

    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj:
        """Merge-patch an object's status subresource (conditions are replaced whole)."""
        return self.request(
            "PATCH", object_path(kind, namespace, name) + "/status",
            body={"status": status}, content_type="application/merge-patch+json",
        )
