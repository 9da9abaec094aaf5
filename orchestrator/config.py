"""Runtime configuration, validated at the boundary."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RuntimeConfig(BaseModel):
    """How the runtime schedules nodes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_concurrency: int = Field(
        16, ge=1, le=4096, description="Engine requests in flight at once, across every graph this runtime runs."
    )
    max_graphs_in_flight: int | None = Field(
        None, ge=1, description="Graphs started at once by run_many; max_concurrency if unset."
    )
    node_timeout_s: float = Field(
        300.0, gt=0, description="Default time a generate node may take once it holds a slot."
    )
    stop_loops: bool = Field(
        True, description="End a generate node whose text falls into a loop (graphs.repetition), finish reason 'loop'."
    )
    run_timeout_s: float | None = Field(
        None, gt=0, description="Bound on one whole graph run; unbounded only if nodes are."
    )
    unwatched_chunk_interval_s: float | None = Field(
        1.0, ge=0, description="Chunk interval asked of replicas for runs no one watches as they go (no event "
        "sink: batch rows, evaluations, non-streamed API calls); fewer chunks leave the engine more CPU. None: "
        "the replica's own (its CoalesceConfig.interval_s)."
    )
