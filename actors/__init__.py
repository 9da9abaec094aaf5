"""What runs on the cluster: the engine interface, engines, replicas and the pool.

Nothing here imports Ray or vLLM at import time: the replica and the pool
import Ray inside their functions, and ``actors.vllm_engine`` (the only vLLM
user) is imported by a replica when it builds a vLLM engine.
"""

from actors.engine import (
    Chunk,
    Engine,
    EngineDeadError,
    EngineError,
    EngineStartError,
    EngineStats,
    GenerateRequest,
    RequestError,
)
from actors.pool import PoolConfig, ReplicaPool, fitting_replicas
from actors.replica import EngineKind, EngineSpec, Replica, ReplicaInfo, ScriptedSpec, VllmSpec
from actors.router import Router, affinity_key
from actors.scripted import ScriptedEngine

__all__ = [
    "Chunk",
    "Engine",
    "EngineDeadError",
    "EngineError",
    "EngineKind",
    "EngineSpec",
    "EngineStartError",
    "EngineStats",
    "GenerateRequest",
    "PoolConfig",
    "Replica",
    "ReplicaInfo",
    "ReplicaPool",
    "RequestError",
    "Router",
    "ScriptedEngine",
    "ScriptedSpec",
    "VllmSpec",
    "affinity_key",
    "fitting_replicas",
]
