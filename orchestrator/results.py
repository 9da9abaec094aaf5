"""What a run returns: per-node outcomes and the answer, as plain data."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class NodeStatus(StrEnum):
    """Where a node is in its life. DONE, FAILED, SKIPPED and CANCELLED are final."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (NodeStatus.PENDING, NodeStatus.RUNNING)


class NodeResult(BaseModel):
    """One node's outcome. Times are seconds since the run started."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Node name.")
    kind: str = Field(description="generate, scope or combine.")
    status: NodeStatus = Field(description="Final status.")
    text: str | None = Field(None, description="Output text when done.")
    prompt_tokens: int | None = Field(None, description="Prompt length in tokens, if the engine said.")
    cached_tokens: int | None = Field(None, description="Prompt tokens served from the prefix cache.")
    tokens: int = Field(0, description="Generated tokens.")
    start_s: float | None = Field(None, description="When the node started (generate: got an engine slot).")
    ttft_s: float | None = Field(None, description="When its first token arrived.")
    end_s: float | None = Field(None, description="When it finished.")
    replica: str | None = Field(None, description="Replica that generated it.")
    finish_reason: str | None = Field(
        None, description="Engine's finish reason (stop, length), or loop when the runtime ended a loop."
    )
    error: str | None = Field(None, description="Why it failed, or which dependency made it skip.")


class RunResult(BaseModel):
    """A graph run's outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    answer: str = Field(description="The sink nodes' outputs joined by blank lines ('' if none finished).")
    nodes: list[NodeResult] = Field(description="Every node, in declaration order.")
    wall_s: float = Field(description="Wall time of the run.")
    ttft_s: float | None = Field(None, description="Time to the first generated token of any node.")
    error: str | None = Field(None, description="Why the graph could not run at all (invalid graph).")

    @property
    def ok(self) -> bool:
        """True when every node finished."""
        return self.error is None and all(n.status is NodeStatus.DONE for n in self.nodes)

    def node(self, name: str) -> NodeResult:
        """One node's result."""
        for result in self.nodes:
            if result.name == name:
                return result
        raise KeyError(name)

    def by_status(self, status: NodeStatus) -> list[str]:
        """Names of nodes that ended in ``status``."""
        return [n.name for n in self.nodes if n.status is status]

    @property
    def tokens(self) -> int:
        """Generated tokens over all nodes."""
        return sum(n.tokens for n in self.nodes)
