"""A worker process of a region: ``globaltables region --workers N`` starts N-1 of these.

Not meant to be run by hand: it listens on the region's port next to the
region's primary process and reads the region's settings from standard input
(globaltables/workers.py explains the division of work).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import pickle
import signal
import sys

__all__ = ["main"]


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the primary dies, however it dies, so no
    worker outlives it holding the region's port."""
    with_libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    with_libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        # the primary died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m globaltables.region_worker",
        description="A worker process of a region, started by `globaltables region "
        "--workers N` (not by hand): it serves item operations on the region's "
        "port and relays everything else to the primary process.",
    )
    parser.add_argument("--index", type=int, required=True, help="worker number (1..N-1)")
    parser.add_argument("--host", required=True, help="the region's address")
    parser.add_argument("--port", type=int, required=True, help="the region's port")
    parser.add_argument("--notify-fd", type=int, required=True, help="pipe to the primary")
    parser.add_argument("--directory", required=True, help="the region's shared worker files")
    parser.add_argument("--primary", required=True, help="URL of the primary's private listener")
    parser.add_argument("--parent", type=int, required=True, help="pid of the primary")
    parser.add_argument("--clock-skew-ms", type=int, default=0, help="as the primary's")
    parser.add_argument("--log-level", default="info", help="as the primary's")
    parser.add_argument("--edge-limits", default=None, help="the primary's HTTP limits (JSON)")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)

    import uvicorn

    from api.app import create_app
    from api.edge import edge_protocol
    from api.edge_limits import EdgeLimits
    from globaltables.workers import WorkerLink, listen
    from regions.process_signals import ProcessSignals
    from regions.region import Region
    from regions.versions import HybridClock, wall_ms

    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s[worker {args.index}]: %(message)s",
    )
    # one line per relayed request otherwise
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = pickle.loads(sys.stdin.buffer.read())
    skew = args.clock_skew_ms
    clock = HybridClock(now_ms=lambda: wall_ms() + skew) if skew else None
    region = Region(settings, clock=clock)
    region.share_processes(ProcessSignals(os.path.join(args.directory, "signals")), worker=True)
    link = WorkerLink(
        args.index, primary_url=args.primary, notify_fd=args.notify_fd, directory=args.directory
    )
    app = create_app(region, None, link=link)
    sock = listen(args.host, args.port, reuse_port=True)
    edge = EdgeLimits.from_json(args.edge_limits) if args.edge_limits else EdgeLimits()
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=edge_protocol(edge),
        **edge.uvicorn_options(),
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
