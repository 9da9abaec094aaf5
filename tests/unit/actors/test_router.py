"""Routing policy: least-loaded, sticky prefix affinity with an overload margin."""

from __future__ import annotations

import pytest

from actors.engine import GenerateRequest, RequestError
from actors.router import Router, affinity_key


def req(prompt: str, *, key: str | None = None, system: str | None = None) -> GenerateRequest:
    return GenerateRequest(request_id="r", prompt=prompt, affinity_key=key, system=system)


def test_explicit_key_wins_over_the_prompt() -> None:
    assert affinity_key(req("a", key="k"), 8) == affinity_key(req("b", key="k"), 8)
    assert affinity_key(req("a", key="k"), 8) != affinity_key(req("a"), 8)


def test_prompts_sharing_the_hashed_prefix_share_a_key() -> None:
    assert affinity_key(req("same prefix, then A"), 11) == affinity_key(req("same prefix, then B"), 11)
    assert affinity_key(req("same prefix, then A"), 64) != affinity_key(req("same prefix, then B"), 64)
    assert affinity_key(req("x", system="s1"), 64) != affinity_key(req("x", system="s2"), 64)


def test_new_keys_go_to_the_least_loaded_replica() -> None:
    router = Router()
    assert router.pick("k1", {"a": 3, "b": 1, "c": 2}) == "b"


def test_idle_replicas_take_turns() -> None:
    router = Router()
    picks = [router.pick(f"k{i}", {"a": 0, "b": 0, "c": 0}) for i in range(6)]
    assert picks == ["a", "b", "c", "a", "b", "c"]


def test_a_key_sticks_until_its_replica_exceeds_the_margin() -> None:
    router = Router(margin=2)
    assert router.pick("k", {"a": 0, "b": 0}) == "a"
    assert router.pick("k", {"a": 2, "b": 0}) == "a"
    assert router.pick("k", {"a": 3, "b": 0}) == "b"
    assert router.pick("k", {"a": 0, "b": 1}) == "b", "the key moved with the overflow"


def test_excluded_and_forgotten_replicas_are_avoided() -> None:
    router = Router()
    assert router.pick("k", {"a": 0, "b": 5}) == "a"
    assert router.pick("k", {"a": 0, "b": 5}, exclude={"a"}) == "b"
    router.forget_replica("b")
    assert router.pick("k2", {"a": 1, "c": 0}) == "c"
    with pytest.raises(RequestError, match="no replica available"):
        router.pick("k", {"a": 0}, exclude={"a"})


def test_the_key_map_is_bounded() -> None:
    router = Router(max_keys=2)
    for i in range(5):
        router.pick(f"k{i}", {"a": 0})
    assert len(router._sticky) == 2
