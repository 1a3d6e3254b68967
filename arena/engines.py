"""Which engine runs the season's streams: `engine.backend: local` (this process's device) or `ray` (Ray actors).

Why apart from arena.world: the world builds every part the same way whatever the backend; this module is the
one place that knows the two engines' constructors, and the only arena module that reaches Ray (through
media.ray_cluster and media.ray_engine, imported only when a season asks for them, so `ray` stays an
optional extra).
"""

from __future__ import annotations

from typing import Literal

from arena.config import SeasonConfig
from common.errors import FieldError
from media.cost_model import CostModel
from media.embedding import TextEmbedder
from media.engine import StreamEngine
from media.engine_protocol import Engine
from media.generator import FrameGenerator


def build_engine(
    config: SeasonConfig,
    generator: FrameGenerator,
    embedder: TextEmbedder,
    cost_model: CostModel,
    timing: Literal["model", "wall"],
) -> Engine:
    e = config.engine
    if e.backend == "local":
        return StreamEngine(
            generator,
            embedder,
            cost_model,
            timing=timing,
            buffer_seconds=e.buffer_seconds,
            finetune_share=e.finetune_share,
        )
    try:
        import ray  # noqa: F401
    except ModuleNotFoundError:
        raise FieldError("engine.backend", "ray needs the ray extra: pip install 'totoroid-arena[ray]'") from None
    from media.ray_actor import ActorSpec
    from media.ray_cluster import connect
    from media.ray_engine import RayEngine

    rc = e.ray
    spec = ActorSpec(
        model=config.generator.model,
        device="cuda" if rc.num_gpus_per_actor > 0 else "cpu",  # Ray hands the actor its GPU(s) as cuda:0..
        cost_model=cost_model,
        timing=timing,
        buffer_seconds=e.buffer_seconds,
        finetune_share=e.finetune_share,
        threads=max(1, int(rc.num_cpus_per_actor)),
        broadcast=config.broadcast,
    )
    owns_ray = connect(rc)
    try:
        return RayEngine(rc, spec, owns_ray=owns_ray)
    except BaseException:
        if owns_ray:
            ray.shutdown()
        raise
