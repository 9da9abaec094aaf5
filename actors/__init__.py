"""What runs on the cluster: the engine interface, engines, replicas and the pool."""

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
from actors.scripted import ScriptedEngine

__all__ = [
    "Chunk",
    "Engine",
    "EngineDeadError",
    "EngineError",
    "EngineStartError",
    "EngineStats",
    "GenerateRequest",
    "RequestError",
    "ScriptedEngine",
]
