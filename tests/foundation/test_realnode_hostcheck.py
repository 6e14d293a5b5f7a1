"""The promise the real node's teardown makes about the host, checked without a node: the
leftover comparison, the missing-tool message and the image cache key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.harness.hostcheck import HostSnapshot, leftovers
from tests.harness.netns import anchor_argv, enter_argv
from tests.harness.realnode_images import archives_key
from tests.harness.realnode_teardown import reap_stale, register, registry
from tests.harness.realnode_tools import check_prerequisites
from tests.harness.tools import MissingToolError

STATE = Path("/tmp/state-x")


def snap(
    mounts: frozenset[str] = frozenset(),
    rules: tuple[str, ...] = (),
    sysctls: tuple[tuple[str, str], ...] = (("kernel/panic", "1"),),
    cgroups: frozenset[str] = frozenset(),
) -> HostSnapshot:
    return HostSnapshot(mounts, rules, sysctls, cgroups)


def test_a_clean_host_has_no_leftovers() -> None:
    before = snap(frozenset({"/", "/proc"}), ("iptables-save: *filter",))
    assert leftovers(before, before, STATE, "picsource-1") == []


def test_node_mounts_rules_sysctls_and_cgroups_are_reported() -> None:
    before = snap(frozenset({"/"}))
    after = snap(
        frozenset({"/", f"{STATE}/kubelet/pods/x/volumes/tmpfs", "/run/netns/cni-1", "/mnt/o"}),
        (
            "iptables-save: -A KUBE-SERVICES -d 10.0.0.10/32 -j KUBE-SVC-X",
            "iptables-save: -A DOCKER -j RETURN",
        ),
        (("kernel/panic", "10"),),
        frozenset({"/sys/fs/cgroup/memory/picsource-1", "/sys/fs/cgroup/memory/other"}),
    )
    problems = leftovers(before, after, STATE, "picsource-1")
    assert f"mount left: {STATE}/kubelet/pods/x/volumes/tmpfs" in problems
    assert "mount left: /run/netns/cni-1" in problems
    assert any("KUBE-SERVICES" in p for p in problems)
    assert "sysctl kernel/panic changed: 1 -> 10" in problems
    assert "cgroup left: /sys/fs/cgroup/memory/picsource-1" in problems
    # What other work on the machine does is not the node's doing.
    assert len(problems) == 5, problems


def test_missing_tools_fail_naming_each_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSOURCE_TOOLS", str(tmp_path / "tools"))
    with pytest.raises(MissingToolError) as caught:
        check_prerequisites()
    message = str(caught.value)
    assert "kubelet" in message and "kube-proxy" in message and "make tools" in message
    assert "bash .ci/tools.sh node-images" in message
    assert str(tmp_path / "images" / "pause-") in message


def test_image_cache_key_follows_the_archives(tmp_path: Path) -> None:
    first = tmp_path / "a.tar"
    first.write_bytes(b"a")
    key = archives_key([first])
    assert archives_key([first]) == key
    os.utime(first, ns=(1, 1))
    assert archives_key([first]) != key


def test_everything_enters_the_anchor_namespaces() -> None:
    assert anchor_argv()[:3] == ["unshare", "--net", "--mount"]
    assert enter_argv(42, ["ip", "route"]) == [
        "nsenter",
        "--target=42",
        "--net",
        "--mount",
        "--",
        "ip",
        "route",
    ]


def test_reaper_removes_only_nodes_whose_anchor_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSOURCE_TOOLS", str(tmp_path / "tools"))
    alive = {"processes": {"anchor": {"pid": os.getpid(), "exe": sys.executable}}}
    register("picsource-alive", alive, tmp_path / "a")
    register(
        "picsource-dead", {"processes": {"anchor": {"pid": 0, "exe": "sleep"}}}, tmp_path / "b"
    )
    assert reap_stale() == ["picsource-dead"]
    assert [p.name for p in registry().iterdir()] == ["picsource-alive.json"]
