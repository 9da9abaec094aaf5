"""Starting and joining Ray: the embedded cluster's life, token auth, join errors.

Starts one embedded Ray (sequentially, like every integration module) and
joins it from child processes, which is how a second program would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ray  # noqa: E402

from cluster import ClusterConfig, ClusterError, connect  # noqa: E402

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
JOIN = textwrap.dedent(
    """
    import sys
    from cluster import ClusterConfig, ClusterError, connect
    try:
        with connect(sys.argv[1], ClusterConfig(join_timeout_s=3)) as info:
            print("joined", info.nodes, info.embedded)
    except ClusterError as exc:
        print("error:", exc)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def join(address: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", JOIN, address], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return done.stdout.strip()


def test_an_unreachable_address_fails_fast() -> None:
    address = f"127.0.0.1:{free_port()}"
    began = time.monotonic()
    with pytest.raises(ClusterError, match=f"Ray cluster at {address} is unreachable"):
        with connect(address, ClusterConfig(join_timeout_s=2)):
            pass
    assert time.monotonic() - began < 5
    assert not ray.is_initialized()


def test_embedded_cluster_lifecycle_auth_and_joining() -> None:
    token_file = Path.home() / ".ray" / "auth_token"
    had_token_file = token_file.exists()
    preset_mode = os.environ.get("RAY_AUTH_MODE")
    with connect(config=ClusterConfig(num_cpus=1)) as info:
        temp_dir = Path(f"/tmp/fj-{os.getpid()}")
        assert info.embedded and info.nodes == 1 and info.cpus == 1
        assert temp_dir.is_dir()
        with connect() as inner:  # an open connection is reused, not restarted
            assert not inner.embedded and inner.address == info.address
        assert ray.is_initialized()
        if preset_mode is None:
            assert os.environ["RAY_AUTH_MODE"] == "token"
        assert join(info.address, dict(os.environ)) == "joined 1 False"
        if preset_mode is None:
            stranger = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
            stranger["HOME"] = str(temp_dir)  # no ~/.ray/auth_token to fall back on
            began = time.monotonic()
            assert "the cluster uses token auth: export RAY_AUTH_MODE=token" in join(info.address, stranger)
            assert time.monotonic() - began < 15
    assert not ray.is_initialized()
    assert not temp_dir.exists()
    assert token_file.exists() == had_token_file, "the embedded cluster must not write ~/.ray/auth_token"
