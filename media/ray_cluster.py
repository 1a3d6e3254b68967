"""Connecting the driver to Ray: a local instance, this machine's cluster, or a remote one, in one clear line.

Why a check before `ray.init`: Ray retries an unreachable address for a long time and prints pages of logs;
a season that cannot reach its cluster must fail at start with one line (exit status 2), before anything is
stored. So a `host:port` address is first tried with a plain TCP connect under a short timeout, and any
failure of `ray.init` itself becomes the same one line.
"""

from __future__ import annotations

import logging
import os
import socket

from common.errors import FieldError
from media.ray_config import RayConfig

FIELD = "engine.ray.address"


def _host_port(address: str) -> tuple[str, int] | None:
    rest = address.removeprefix("ray://")
    if rest == "auto" or ":" not in rest:
        return None
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float) -> None:
    """Raise FieldError (one line) when nothing answers at the address's host:port."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise FieldError(FIELD, f"cannot reach the Ray cluster at {address!r} ({reason})") from None


def connect(config: RayConfig) -> bool:
    """Make sure this process is a Ray driver. Returns True when this call initialised Ray (the caller then
    calls `ray.shutdown()`: it stops a local instance, or only disconnects from a cluster), False when Ray was
    already initialised (a test fixture, a notebook), which is left as it was."""
    import ray

    if config.address is not None:
        check_reachable(config.address, config.connect_timeout_seconds)  # also when Ray is already initialised
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if config.address is None:
        try:
            ray.init(num_cpus=os.cpu_count() or 1, **quiet)
        except Exception as exc:  # noqa: BLE001 - any start failure is the same one line
            raise FieldError(FIELD, f"could not start a local Ray instance: {_first_line(exc)}") from None
        return True
    try:
        ray.init(address=config.address, **quiet)
    except Exception as exc:  # noqa: BLE001
        raise FieldError(FIELD, f"cannot join the Ray cluster at {config.address!r}: {_first_line(exc)}") from None
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
