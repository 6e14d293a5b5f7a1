"""Pure parts of high availability and scope: who may take the Lease, what a claim writes,
the launch settings read from the environment, and the Kopf command line they become."""

from __future__ import annotations

import subprocess
import sys

import pytest

from picsource_core.config import ConfigurationError
from picsource_operator.__main__ import kopf_argv, liveness_url
from picsource_operator.leader import LeaseTiming, claimed_spec, may_take, released_spec
from picsource_operator.settings import LaunchSettings
from tests.support.env import REPO, python_path

TIMING = LeaseTiming(lease_seconds=10, renew_deadline_seconds=6, retry_seconds=2)
NOW = "2026-12-02T17:00:00.000000Z"


def test_a_lease_held_by_a_live_peer_is_not_taken() -> None:
    spec = {"holderIdentity": "op-a", "leaseDurationSeconds": 10}
    assert not may_take(spec, "op-b", unchanged_for=9.9, timing=TIMING)


def test_a_lease_its_holder_stopped_renewing_is_taken_after_its_duration() -> None:
    spec = {"holderIdentity": "op-a", "leaseDurationSeconds": 10}
    assert may_take(spec, "op-b", unchanged_for=10.0, timing=TIMING)


def test_the_holders_own_lease_and_a_released_lease_are_free() -> None:
    assert may_take({"holderIdentity": "op-a", "leaseDurationSeconds": 10}, "op-a", 0, TIMING)
    assert may_take(released_spec({"holderIdentity": "op-a"}, NOW), "op-b", 0, TIMING)


def test_a_claim_counts_transitions_and_a_renewal_keeps_the_acquire_time() -> None:
    taken = claimed_spec({"holderIdentity": "op-a", "acquireTime": "t0", "leaseTransitions": 3}, "op-b", TIMING, NOW)
    assert taken == {"holderIdentity": "op-b", "leaseDurationSeconds": 10, "acquireTime": NOW,
                     "renewTime": NOW, "leaseTransitions": 4}
    renewed = claimed_spec(taken, "op-b", TIMING, "later")
    assert (renewed["acquireTime"], renewed["renewTime"], renewed["leaseTransitions"]) == (NOW, "later", 4)


def test_launch_settings_read_namespaces_and_lease_timing() -> None:
    s = LaunchSettings.from_env({"PICSOURCE_WATCH_NAMESPACES": " team-a, team-b ,team-a",
                                 "PICSOURCE_OPERATOR_LEADER_ELECTION": "true", "POD_NAMESPACE": "ops",
                                 "POD_ID": "op-0", "PICSOURCE_OPERATOR_LEASE_SECONDS": "15"})
    assert s.namespaces == ("team-a", "team-b")
    assert (s.leader_election, s.lease_namespace, s.identity) == (True, "ops", "op-0")
    assert s.timing == LeaseTiming(15, 9, 2)
    assert LaunchSettings.from_env({}).namespaces == ()


@pytest.mark.parametrize(("env", "named"), [
    ({"PICSOURCE_WATCH_NAMESPACES": "team-a,Team_B"}, "PICSOURCE_WATCH_NAMESPACES"),
    ({"PICSOURCE_WATCH_NAMESPACES": "a,,b"}, "PICSOURCE_WATCH_NAMESPACES"),
    ({"PICSOURCE_OPERATOR_LEADER_ELECTION": "maybe"}, "PICSOURCE_OPERATOR_LEADER_ELECTION"),
    ({"PICSOURCE_OPERATOR_LEASE_SECONDS": "5", "PICSOURCE_OPERATOR_LEASE_RENEW_DEADLINE_SECONDS": "6"},
     "PICSOURCE_OPERATOR_LEASE_RENEW_DEADLINE_SECONDS"),
])
def test_a_bad_launch_setting_names_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        LaunchSettings.from_env(env)
    assert err.value.name == named


def test_the_kopf_command_line_follows_the_scope() -> None:
    namespaced = LaunchSettings(namespaces=("a", "b"))
    assert kopf_argv(namespaced, ["--verbose"]) == [
        "run", "-m", "picsource_operator.main", "--namespace", "a", "--namespace", "b", "--standalone", "--verbose"]
    assert kopf_argv(LaunchSettings(), [])[3:] == ["--all-namespaces", "--standalone"]
    with pytest.raises(ConfigurationError, match="--namespace"):
        kopf_argv(namespaced, ["--namespace=c"])
    assert liveness_url(["-v", "--liveness=http://0.0.0.0:8080/healthz"]) == "http://0.0.0.0:8080/healthz"
    assert liveness_url(["-L", "http://h:1/x"]) == "http://h:1/x"


def test_a_bad_namespace_list_stops_the_process_with_one_line_naming_it() -> None:
    result = subprocess.run([sys.executable, "-m", "picsource_operator"], capture_output=True, text=True,
                            timeout=60, cwd=REPO,
                            env={"PYTHONPATH": python_path(), "PICSOURCE_WATCH_NAMESPACES": "ok,Not OK",
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "picsource-operator: configuration error: PICSOURCE_WATCH_NAMESPACES must be a comma-separated "
        "list of namespace names, got 'Not OK'"]
