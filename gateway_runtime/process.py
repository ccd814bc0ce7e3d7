"""What every gateway process sets up before its event loop runs."""

from __future__ import annotations

import logging
import resource

import uvloop

log = logging.getLogger("lockgate")


def prepare_process() -> None:
    """uvloop, and as many open files as the system allows: each stream holds two sockets (client and upstream),
    and a soft limit of 1,024 would cap a worker far below its streams' share of `max_connections`."""
    uvloop.install()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            log.warning("could not raise the open-files limit from %d to %d", soft, hard)
