"""Errors raised while starting, joining or placing work on a Ray cluster.

They are configuration or environment errors: a wrong address, a missing
token, a cluster too small for the replicas asked of it. Retrying the same
call does not help; the message says what to change.
"""

from __future__ import annotations

from graphs.errors import ForkjoinError


class ClusterError(ForkjoinError):
    """Ray could not be started or joined. Caused by the address, the auth settings or the host; fatal."""


class PlacementError(ClusterError):
    """A replica's resources could not be reserved in time. Caused by a cluster too small or too busy."""
