"""Which replica serves a request: least-loaded with sticky prefix affinity.

Pure and synchronous (no Ray), so its policy is unit-tested directly.

Policy:
- Each request has an affinity key: its ``affinity_key``, else a hash of the
  system message and the first ``prefix_chars`` characters of the prompt
  (requests that share a prefix share a key, so their KV prefix is cached on
  one replica).
- A key seen before goes to the replica it went to last, unless that replica
  has more than ``margin`` requests in flight beyond the least-loaded one.
- Otherwise (new key, overloaded or excluded replica) the least-loaded
  replica wins; ties go to the one assigned fewest requests so far, then by
  name, so idle replicas take turns. The key then sticks to the winner.
- The key map is a bounded LRU; forgetting a key only costs a cache miss.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Collection, Mapping

from actors.engine import GenerateRequest, RequestError


def affinity_key(request: GenerateRequest, prefix_chars: int) -> str:
    """The key requests sharing a replica (and a KV prefix) have in common."""
    if request.affinity_key is not None:
        return f"k:{request.affinity_key}"
    head = f"{request.system or ''}\x00{request.prompt[:prefix_chars]}"
    return "p:" + hashlib.blake2b(head.encode(), digest_size=12).hexdigest()


class Router:
    """Picks replicas by name; the caller reports load (requests in flight per replica)."""

    def __init__(self, *, margin: int = 2, max_keys: int = 4096) -> None:
        self.margin = margin
        self.max_keys = max_keys
        self._sticky: OrderedDict[str, str] = OrderedDict()
        self._assigned: dict[str, int] = {}

    def pick(self, key: str, load: Mapping[str, int], exclude: Collection[str] = ()) -> str:
        """The replica for ``key``, given each replica's in-flight count."""
        candidates = [name for name in load if name not in exclude]
        if not candidates:
            raise RequestError("no replica available to serve the request")
        least = min(candidates, key=lambda n: (load[n], self._assigned.get(n, 0), n))
        preferred = self._sticky.get(key)
        if preferred in candidates and load[preferred] <= load[least] + self.margin:
            chosen = preferred
        else:
            chosen = least
        self._remember(key, chosen)
        self._assigned[chosen] = self._assigned.get(chosen, 0) + 1
        return chosen

    def forget_replica(self, name: str) -> None:
        """Drop a removed replica; keys that pointed at it are re-placed on next use."""
        self._assigned.pop(name, None)
        for key in [k for k, v in self._sticky.items() if v == name]:
            del self._sticky[key]

    def _remember(self, key: str, name: str) -> None:
        self._sticky[key] = name
        self._sticky.move_to_end(key)
        while len(self._sticky) > self.max_keys:
            self._sticky.popitem(last=False)
