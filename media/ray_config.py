"""The `engine.ray` section of a season: where the Ray cluster is and how the streams are spread over it.

Why in media and not in arena.config: the Ray engine (media.ray_engine) reads it, and media sits below the arena;
the season config only embeds it (`EngineSection.ray`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# auto | ray://host:port (Ray Client) | host:port (the head's GCS, from a node of the cluster)
ADDRESS_PATTERN = r"^(auto|ray://[A-Za-z0-9_.\-\[\]:]+:\d{1,5}|[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$"


class RayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None,
        pattern=ADDRESS_PATTERN,
        description="null: start a local Ray instance (no dashboard, quiet logs) and stop it at the end; "
        "auto: the cluster this machine belongs to (`ray start --head` ran here); ray://host:port: a remote "
        "cluster through Ray Client; host:port: the head node's GCS address",
    )
    actors: int = Field(2, ge=1, le=1024, description="engine actors; each owns one device and its generator")
    num_gpus_per_actor: float = Field(
        0.0, ge=0, le=8, description="GPUs each actor reserves (1 = a whole GPU); 0 = the actor runs on CPU"
    )
    num_cpus_per_actor: float = Field(
        0.5,
        gt=0,
        le=256,
        description="CPUs each actor reserves (fractional is fine); torch in the actor uses that many threads, "
        "at least one",
    )
    max_restarts: int = Field(
        3, ge=0, le=1000, description="times Ray restarts an actor that died; its streams are restored each time"
    )
    connect_timeout_seconds: float = Field(
        5.0, gt=0, le=120, description="a cluster address that does not answer within this is one error line"
    )
