"""Joining a cluster fails fast and clearly; none of this starts Ray."""

from __future__ import annotations

import socket
import time

import pytest

from cluster import ClusterError, resolve_address
from cluster.connect import _probe


def test_no_address_means_embedded_unless_ray_address_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert resolve_address(None) is None
    assert resolve_address("local") is None
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert resolve_address(None) == "10.0.0.5:6379"
    assert resolve_address("local") is None
    assert resolve_address("auto") == "auto"


def test_an_unreachable_address_is_a_one_line_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on: bind, then close
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    began = time.monotonic()
    with pytest.raises(ClusterError, match=rf"^Ray cluster at 127.0.0.1:{port} is unreachable \(") as caught:
        _probe(f"127.0.0.1:{port}", timeout_s=2.0)
    assert time.monotonic() - began < 2.5
    assert "\n" not in str(caught.value)


def test_a_malformed_address_is_rejected() -> None:
    with pytest.raises(ClusterError, match="bad Ray address 'nonsense'"):
        _probe("nonsense", timeout_s=1.0)
