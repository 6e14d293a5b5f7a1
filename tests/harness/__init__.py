"""Real services for tests and for `make run` / `make cluster-up`.

Everything here starts genuine processes (SecantusDB, MinIO, etcd, kube-apiserver, ...)
on loopback ports; nothing is mocked. The binaries come from the per-user tool cache
filled by `make tools` (see tools.py).
"""
