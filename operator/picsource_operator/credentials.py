"""Reading the Secret values a Gallery's bindings use, and remembering the last ones.

Every read of a storage key, secret key or database URI goes through `SecretReader`,
for two reasons:

* Pods take these values through secretKeyRef environment variables, which the kubelet
  resolves only when a container starts. `digest` hashes what each reference resolves to
  now; it goes on the pod templates, so a changed Secret rolls the pods.
* Deleting a namespace deletes its Secrets and its Galleries at the same time, and a
  Gallery with reclaimPolicy Delete needs those credentials in its finalizer. The
  reader remembers the last value it read per (namespace, Secret, key); `value(...,
  last_known=True)` falls back to it when the Secret is gone. Only the finalizer of a
  Gallery in a terminating namespace asks for that: a Secret a person deleted on purpose
  is never silently replaced by an old copy.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable

from picsource_operator.builders.config import secrets_digest
from picsource_operator.builders.pods import secret_refs
from picsource_operator.errors import BindingError
from picsource_operator.kube import Kube, KubeError, Obj
from picsource_operator.spec import Gallery

Key = tuple[str, str, str]  # (namespace, Secret name, key)


class SecretReader:
    """Secret values by reference, with the last value read kept in memory."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._known: dict[Key, str] = {}
        self._lock = threading.Lock()

    def secret(self, namespace: str, name: str) -> Obj | None:
        try:
            return self.kube.get("Secret", namespace, name)
        except KubeError as err:
            raise BindingError("SecretUnreadable", f"cannot read Secret {name!r}: {err}") from err

    def value(self, namespace: str, name: str, key: str, *, last_known: bool = False) -> str:
        """The decoded value of `key` in Secret `name`; BindingError when it cannot be had."""
        try:
            return self._decode(namespace, name, key, self.secret(namespace, name))
        except BindingError as err:
            remembered = self.last_known(namespace, name, key) if last_known else None
            if remembered is None or err.reason not in ("SecretMissing", "SecretKeyMissing"):
                raise
            return remembered

    def last_known(self, namespace: str, name: str, key: str) -> str | None:
        with self._lock:
            return self._known.get((namespace, name, key))

    def _decode(self, namespace: str, name: str, key: str, secret: Obj | None) -> str:
        if secret is None:
            raise BindingError("SecretMissing", f"Secret {name!r} does not exist in namespace {namespace!r}")
        raw = (secret.get("data") or {}).get(key)
        if raw is None:
            raise BindingError("SecretKeyMissing", f"Secret {name!r} has no key {key!r}")
        value = base64.b64decode(raw).decode()
        with self._lock:
            self._known[(namespace, name, key)] = value
        return value

    def digest(self, g: Gallery) -> str | None:
        """Hash of the values every Secret reference of `g` resolves to; None while a
        required one cannot be read (pods could not start with it either, so the pods
        keep the annotation they have instead of rolling into a broken state).

        One GET per distinct Secret.
        """
        values: dict[tuple[str, str], str | None] = {}
        for name, keys in _by_secret(secret_refs(g)).items():
            try:
                secret = self.secret(g.namespace, name)
            except BindingError:
                return None
            for key, optional in keys:
                try:
                    values[(name, key)] = self._decode(g.namespace, name, key, secret)
                except BindingError:
                    if not optional:
                        return None
                    values[(name, key)] = None
        return secrets_digest(values)

    def forget(self, namespace: str, names: Iterable[str]) -> None:
        drop = set(names)
        with self._lock:
            for known in [k for k in self._known if k[0] == namespace and k[1] in drop]:
                del self._known[known]


def _by_secret(refs: Iterable[tuple[str, str, bool]]) -> dict[str, list[tuple[str, bool]]]:
    grouped: dict[str, list[tuple[str, bool]]] = {}
    for name, key, optional in refs:
        grouped.setdefault(name, []).append((key, optional))
    return grouped
