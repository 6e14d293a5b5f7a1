"""Certificates for a throw-away loopback control plane, made with the openssl CLI.

Why: kube-apiserver only serves TLS and RBAC needs authenticated clients, so a real
control plane needs a CA, a serving certificate, a service-account signing key and an
admin client certificate (group system:masters). The `cryptography` package is not a
project dependency, while the openssl CLI is on every Debian machine; ECDSA P-256 keys
keep generation to a few milliseconds each.
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
DAYS = "3650"
_CLIENT = (
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=clientAuth\n"
)
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    """Paths of every file the control plane and its clients need."""

    directory: Path

    @property
    def ca_crt(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def apiserver_crt(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def front_proxy_ca_crt(self) -> Path:
        return self.directory / "front-proxy-ca.crt"

    @property
    def front_proxy_client_crt(self) -> Path:
        return self.directory / "front-proxy-client.crt"

    @property
    def front_proxy_client_key(self) -> Path:
        return self.directory / "front-proxy-client.key"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def admin_crt(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    def complete(self) -> bool:
        files = (self.ca_crt, self.apiserver_crt, self.sa_key, self.sa_pub, self.admin_crt,
                 self.front_proxy_client_crt)  # fmt: skip
        return all(p.exists() for p in files)


def _openssl(*args: str | Path, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args[:2]))} failed: {result.stderr}")


def _ca(directory: Path, name: str, common_name: str) -> None:
    _openssl("req", "-x509", "-new", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", DAYS, "-subj", f"/CN={common_name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
             cwd=directory)  # fmt: skip


def _sign(pki: Pki, name: str, subject: str, extensions: str, ca: str = "ca") -> None:
    """Key + CSR for `name`, signed by CA `ca` with the given v3 extensions."""
    d = pki.directory
    _openssl("req", "-new", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", subject, cwd=d)  # fmt: skip
    (d / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", DAYS, "-sha256", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt", cwd=d)  # fmt: skip
    (d / f"{name}.csr").unlink()
    (d / f"{name}.ext").unlink()


def generate(directory: Path, extra_ips: tuple[str, ...] = ()) -> Pki:
    """Create (or reuse, when complete) the cluster's keys and certificates.

    extra_ips: more addresses for the API server's certificate (the real node's
    apiserver is reached by pods at an address inside its network namespace).
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    if pki.complete():
        return pki
    _ca(directory, "ca", "picsource-test-ca")
    # A separate CA for the aggregation layer's request-header authentication, as
    # kubeadm does; without it controller-manager and scheduler log errors forever.
    _ca(directory, "front-proxy-ca", "picsource-test-front-proxy-ca")
    names = [
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
        "IP:127.0.0.1",
        f"IP:{KUBERNETES_SERVICE_IP}",
        *(f"IP:{ip}" for ip in extra_ips),
    ]
    _sign(pki, "apiserver", "/CN=kube-apiserver",
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          f"extendedKeyUsage=serverAuth\nsubjectAltName={','.join(names)}\n")  # fmt: skip
    _sign(pki, "admin", "/O=system:masters/CN=picsource-admin", _CLIENT)
    _sign(pki, "front-proxy-client", "/CN=front-proxy-client", _CLIENT, ca="front-proxy-ca")
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", "sa.key", cwd=directory)  # fmt: skip
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return pki


def client_cert(pki: Pki, name: str, subject: str) -> tuple[Path, Path]:
    """A client certificate signed by the cluster CA (e.g. a kubelet's system:node identity)."""
    crt, key = pki.directory / f"{name}.crt", pki.directory / f"{name}.key"
    if not (crt.exists() and key.exists()):
        _sign(pki, name, subject, _CLIENT)
        key.chmod(0o600)
    return crt, key


def kubeconfig_text(server: str, pki: Pki, name: str = "picsource-test") -> str:
    """An admin kubeconfig with the certificates embedded, so it can be copied anywhere."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return f"""apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {server}
    certificate-authority-data: {b64(pki.ca_crt)}
users:
- name: {name}-admin
  user:
    client-certificate-data: {b64(pki.admin_crt)}
    client-key-data: {b64(pki.admin_key)}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}-admin
    namespace: default
current-context: {name}
"""
