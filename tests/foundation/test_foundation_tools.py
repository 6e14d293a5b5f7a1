"""Pinned tool lookup: versions come from .ci/versions.env; a gap names `make tools`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import tools


def test_parse_versions_handles_comments_quotes_and_blanks() -> None:
    text = '# pins\n\nKUBERNETES_VERSION=v1.36.3\nAPT="a b"\nNOT A LINE\n'
    assert tools.parse_versions(text) == {"KUBERNETES_VERSION": "v1.36.3", "APT": "a b"}


def test_every_tool_has_a_pinned_version() -> None:
    pinned = tools.versions()
    assert {t.version_key for t in tools.TOOLS.values()} <= set(pinned)


def test_cached_binaries_are_looked_up_by_pinned_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSOURCE_TOOLS", str(tmp_path))
    version = tools.versions()["ETCD_VERSION"]
    etcd = tmp_path / f"etcd-{version}" / "etcd"
    etcd.parent.mkdir()
    etcd.write_text("#!/bin/sh\n")
    etcd.chmod(0o755)
    assert tools.binary("etcd") == etcd


def test_missing_binary_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSOURCE_TOOLS", str(tmp_path))
    with pytest.raises(tools.MissingToolError) as info:
        tools.binary("kube-apiserver")
    message = str(info.value)
    assert "`make tools`" in message
    assert "bash .ci/tools.sh kubernetes" in message
    assert str(tmp_path / "kubernetes-v") in message
    assert tools.missing(["etcd", "kwok"]) == ["etcd", "kwok"]


def test_venv_tools_are_found() -> None:
    assert tools.binary("kubectl").name == "kubectl"
    assert tools.binary("secantusd").name == "secantusd-py"
