"""A WAN between regions on one machine: latency per pair, jitter and partitions,
injected in user space (issue #18).  See ``network.py`` for the shape and
docs/reliability.md ("Under WAN latency") for how the tests and the benchmark use it.
"""

from globaltables.wan.network import (
    Backend,
    Switch,
    Wan,
    WanControl,
    listener_name,
    resolve_backend,
)
from globaltables.wan.process import WanError, WanProcess
from globaltables.wan.topology import LAN, REALISTIC, REALISTIC_RTT_MS, WanProfile

__all__ = [
    "LAN",
    "REALISTIC",
    "REALISTIC_RTT_MS",
    "Backend",
    "Switch",
    "Wan",
    "WanControl",
    "WanError",
    "WanProcess",
    "WanProfile",
    "listener_name",
    "resolve_backend",
]
