"""The operator knows its user name without a passwd entry (the image's uid 10001 has none).

Kopf builds its peering identity from `getpass.getuser()`; without an answer the operator
pod crash-loops before any handler runs. The pure tests cover the decision; the cluster
test runs the real operator as uid 10001 (a user namespace maps us to it, and this
machine has no passwd entry for it either) with no USER/LOGNAME, as a container would.
"""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess

from picsource_operator.identity import USER_VARIABLES, ensure_user, process_user


def no_passwd(uid: int) -> str:
    raise KeyError(f"getpwuid(): uid not found: {uid}")


def test_environment_names_the_user_first() -> None:
    assert process_user({"USER": "alice"}, 10001, no_passwd) == ("alice", True)
    assert process_user({"LOGNAME": "bob", "USER": "alice"}, 10001, no_passwd) == ("bob", True)


def test_passwd_entry_is_used_when_the_environment_is_silent() -> None:
    assert process_user({}, 0, lambda uid: "root") == ("root", True)


def test_uid_without_passwd_entry_gets_a_name_and_user_is_set() -> None:
    environ: dict[str, str] = {"HOME": "/"}
    assert process_user(environ, 10001, no_passwd) == ("uid10001", False)
    assert ensure_user(environ, 10001, no_passwd) == "uid10001"
    assert environ == {"HOME": "/", "USER": "uid10001"}
    # Once set, getpass finds it without passwd (what kopf calls).
    assert ensure_user(environ, 10001, no_passwd) == "uid10001"
    assert environ["USER"] == "uid10001"


def test_getpass_agrees_after_ensure_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    ensure_user(uid=10001, lookup=no_passwd)
    assert getpass.getuser() == "uid10001"


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_operator_runs_as_a_uid_without_passwd_entry(gallery_env: Env, tmp_path: Path,
                                                    kubectl: Any) -> None:
    env = gallery_env
    proc = OperatorProcess(env.cluster, env.namespace, tmp_path / "operator.log",
                           wrapper=("unshare", "--user", "--map-user=10001", "--map-group=10001"),
                           drop_env=USER_VARIABLES)
    try:
        proc.start()
        env.apply(env.gallery("photos", web={"replicas": 1}))
        env.wait_condition("photos", "Ready", "True", timeout=60)
        env.cleanup()
    finally:
        proc.stop()
        print("--- operator log (tail) ---\n" + "\n".join(proc.log().splitlines()[-60:]))
