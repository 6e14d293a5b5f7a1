"""`make gallery-up`: PicSource installed on the real node, ready for a person's browser.

Why: the README's "Install on a real cluster" should be commands a person can run, not
a description of the end-to-end test. This runs the same install the test runs (hostPath
volumes, `helm install` with our images, SecantusDB, the example Gallery until Ready) on
the node `make cluster-up NODE=real` started (it starts one if none is up), then prints
how to open the gallery: the web Service is inside the node's network namespace, so a
relay on 127.0.0.1 forwards one port to it, in the foreground, until Ctrl-C.

    python -m tests.e2e.realcluster_cli [PORT]    # default 8080
"""

from __future__ import annotations

import subprocess
import sys

from tests.e2e import realcluster_objects as obj
from tests.e2e.realcluster_install import Install, StepFailed
from tests.harness import realnode_cli
from tests.harness.netns_relay import relay_argv
from tests.harness.realnode import RealCluster


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and not argv[0].isdigit()):
        print("usage: python -m tests.e2e.realcluster_cli [PORT]", file=sys.stderr)
        return 2
    port = int(argv[0]) if argv else 8080
    if realnode_cli.main("up") != 0:
        return 1
    state = realnode_cli.RUN_STATE
    node = RealCluster(state, state.resolve().parent / "kubeconfig", detach=True)
    install = Install(node)
    if install.kubectl("get", "gallery", obj.GALLERY, "-n", obj.GALLERY_NS, check=False).returncode:
        try:
            install.install_all()
        except StepFailed as exc:
            print(f"gallery-up failed: {exc}", file=sys.stderr)
            return 1
        print(f"installed: helm install → Gallery Ready in {install.timings['install_to_ready']:.0f} s")
    else:
        install.wait_gallery_ready()
    host, target = install.web_url().removeprefix("http://"), 80
    print(f"Gallery {obj.GALLERY} is Ready. Open http://127.0.0.1:{port} (sign up, upload, browse).\n"
          f"  kubectl: export KUBECONFIG={node.kubeconfig}\n"
          f"  Ctrl-C stops the relay; `make cluster-down` removes the node and everything on it.")  # fmt: skip
    try:
        return subprocess.run(relay_argv(node.netns_path, port, host, target), check=False).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
