"""Profile a region under load: py-spy samples the ``globaltables region`` process from
outside (it needs ptrace; as root in our sandboxes it works) while the load generator drives
a workload, and the samples are folded into the hottest functions, packages and stacks.

Modes (py-spy's own "active thread" detection is not usable here: with uvloop and
aiosqlite it counts threads blocked in ``epoll_pwait`` or a futex as running, so a region at
30 % CPU shows 100 %+ of "active" samples):

* ``gil`` (default): only samples of the thread holding the GIL (``py-spy --gil``).  A Python
  region runs Python code on one core at a time, so this is where its CPU goes.
* ``wall``: every thread, waiting or not, with native frames (``--idle --native``): where
  time goes, e.g. the SQLite thread in ``fdatasync`` or waiting for work.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import aio
from bench.loadgen import Endpoint, LoadConfig, ensure_table, preload, run_load
from bench.peers import make_server

__all__ = ["ProfileConfig", "fold", "package_of", "run_profile"]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class ProfileConfig:
    out_dir: Path
    server: str = "gt-sqlite"
    workload: str = "mixed"
    duration: float = 15.0
    warmup: float = 2.0
    concurrency: int = 16
    item_size: int = 1024
    key_space: int = 2000
    rate: int = 100
    mode: str = "gil"
    top: int = 25


_MODES = {"gil": ["--gil"], "wall": ["--idle", "--native"]}


def short_path(path: str) -> str:
    """``site-packages/x/y.py`` -> ``x/y.py``; repository files relative; stdlib by last two parts."""
    p = path.replace("\\", "/")
    if "site-packages/" in p:
        return p.split("site-packages/", 1)[1]
    for ours in ("api", "regions", "replicator", "globaltables", "bench"):
        marker = f"/{ours}/"
        if marker in p:
            return ours + "/" + p.split(marker, 1)[1]
    parts = p.split("/")
    return "/".join(parts[-2:])


def package_of(path: str) -> str:
    """A coarse owner of a source file: our top-level packages, a site-package, or stdlib."""
    p = path.replace("\\", "/")
    if "site-packages/" in p:
        return p.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for ours in ("api", "regions", "replicator", "globaltables", "bench"):
        if p.startswith(f"{ours}/") or f"/{ours}/" in p:
            tail = p.split(f"{ours}/", 1)[1]
            return f"{ours}/{tail.split('/', 1)[0]}" if "/" in tail else f"{ours}/{tail}"
    if "<" in p:
        return p
    name = Path(p).name
    if ".so" in name or name.endswith((".c", ".h", ".pyx")):
        # native frames (py-spy --native): the library or C file
        return "native:" + name.split(".so")[0].removesuffix(".c").removesuffix(".h")
    return "stdlib:" + Path(p).stem


def _parse_frame(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m.group("func"), m.group("file")


def fold(raw: str, top: int = 25) -> dict[str, Any]:
    """Hot spots from py-spy's ``raw`` output (collapsed stacks, recorded with ``--threads``
    and ``--full-filenames``).

    ``self``: samples whose innermost frame is the function; ``inclusive``: samples with the
    function anywhere on the stack; ``packages_*``: the same by package; ``threads``: samples
    per thread; ``stacks``: the most frequent innermost five frames per thread."""
    total = 0
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    pkg_self: Counter[str] = Counter()
    pkg_incl: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    stacks: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        total += n
        frames = [f for f in stack.split(";") if f]
        thread = ""
        if frames and frames[0].startswith("thread ("):
            # "thread (0x7f..): Thread-3 (_connection_worker_thread)" -> the name only
            thread = frames[0].split("): ", 1)[-1]
            frames = frames[1:]
        threads[thread] += n
        if not frames:
            continue
        parsed = [_parse_frame(f) for f in frames]
        names = [f"{func} ({short_path(file)})" if file else func for func, file in parsed]
        self_c[names[-1]] += n
        pkg_self[package_of(parsed[-1][1])] += n
        for name in set(names):
            incl[name] += n
        for pkg in {package_of(file) for _, file in parsed}:
            pkg_incl[pkg] += n
        tail = " > ".join(func for func, _ in parsed[-5:])
        stacks[f"{thread}: {tail}"] += n

    def table(c: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"name": k, "samples": v, "pct": round(100.0 * v / total, 1) if total else 0.0}
            for k, v in c.most_common(top)
        ]

    return {
        "samples": total,
        "self": table(self_c),
        "inclusive": table(incl),
        "packages_self": table(pkg_self),
        "packages_inclusive": table(pkg_incl),
        "threads": table(threads),
        "stacks": table(stacks),
    }


def run_profile(cfg: ProfileConfig) -> dict[str, Any]:
    """Start a region, load it, record it with py-spy; returns the folded hot spots."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    out_dir = cfg.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = out_dir / "profile-work"
    shutil.rmtree(workdir, ignore_errors=True)
    if cfg.mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}")
    tag = f"{cfg.server}-{cfg.workload}-{cfg.mode}"
    raw_path = out_dir / f"profile-{tag}.txt"
    server = make_server(cfg.server, workdir)
    recorder: list[subprocess.Popen[bytes]] = []
    try:
        server.start()
        assert server.proc is not None
        ep = Endpoint(server.url, server.region)
        aio.run(ensure_table(ep))
        aio.run(preload(ep, cfg.key_space, cfg.item_size))

        def on_window(which: str) -> None:
            if which != "start":
                return
            cmd = [
                spy, "record", "-p", str(server.proc.pid if server.proc else 0),
                "-d", str(int(cfg.duration)), "-r", str(cfg.rate),
                "-f", "raw", "-o", str(raw_path), "--threads", "--full-filenames",
                *_MODES[cfg.mode],
            ]
            recorder.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            )

        load = LoadConfig(
            server.url,
            cfg.workload,
            concurrency=cfg.concurrency,
            item_size=cfg.item_size,
            key_space=cfg.key_space,
            duration=cfg.duration,
            warmup=cfg.warmup,
        )
        result = aio.run(run_load(load, label=f"profiling {tag}", on_window=on_window))
        if not recorder:
            raise RuntimeError("py-spy was not started")
        _, err = recorder[0].communicate(timeout=cfg.duration + 60)
        if recorder[0].returncode != 0 or not raw_path.exists():
            raise RuntimeError(f"py-spy failed (needs ptrace): {err.decode(errors='replace')[-500:]}")
    finally:
        for r in recorder:
            if r.poll() is None:
                r.terminate()
        server.stop()
    folded = fold(raw_path.read_text(), cfg.top)
    return {
        "server": cfg.server,
        "workload": cfg.workload,
        "mode": cfg.mode,
        "raw": str(raw_path),
        "load": result.to_dict(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **folded,
    }
