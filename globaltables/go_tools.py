"""Pinned Go programs the tests and tools run (Toxiproxy, the S3 server), built from
source through the Go module proxy, the one place this machine may fetch them from,
into ``.tools/bin`` (never committed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GoBuildFailed", "GoProgram", "go_toolchain", "tools_dir"]

_REPO = Path(__file__).resolve().parent.parent


class GoBuildFailed(RuntimeError):
    """No Go toolchain, or ``go install`` failed (the message ends with its output)."""


def go_toolchain() -> str | None:
    """The Go toolchain: the one ``.ci/run`` unpacks into ``.tools/go`` (a machine's own
    Go may be too old), else ``go`` on PATH."""
    local = _REPO / ".tools" / "go" / "bin" / "go"
    if local.is_file():
        return str(local)
    return shutil.which("go")


def tools_dir() -> Path:
    """``$GLOBALTABLES_TOOLS_DIR`` or the checkout's ``.tools/bin``."""
    return Path(os.environ.get("GLOBALTABLES_TOOLS_DIR") or _REPO / ".tools" / "bin")


@dataclass(frozen=True)
class GoProgram:
    #: the package ``go install`` builds, and its pinned version
    module: str
    version: str
    #: the file ``go install`` writes (the package's last path element)
    built_name: str
    #: the installed file's name, without the version
    name: str
    #: the make target that builds it, and the Go release its go.mod needs
    make_target: str
    go_min: str
    #: what build() raises (a subclass of GoBuildFailed, named for its callers)
    error: type[GoBuildFailed] = GoBuildFailed

    def binary(self) -> Path:
        return tools_dir() / f"{self.name}-{self.version}"

    def build(self, timeout: float = 900.0) -> Path:
        """``go install MODULE@VERSION`` into a scratch GOBIN next to the binary's place,
        then moved there (a half-built binary never takes it); the binary, at once if it
        is already there."""
        target = self.binary()
        if target.is_file():
            return target
        go = go_toolchain()
        if go is None:
            raise self.error(
                f"{self.name} is not built and there is no Go toolchain: install Go >= "
                f"{self.go_min} and run `make {self.make_target}` (builds "
                f"{self.module}@{self.version} into {target.parent})"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
            # -buildvcs=false: a module built from the module cache has no VCS to stamp;
            # GOTOOLCHAIN=auto: an older local Go (>= 1.21) fetches the release go.mod
            # asks for from the same module proxy
            env = {
                **os.environ,
                "GOBIN": gobin,
                "GOFLAGS": "-buildvcs=false",
                "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "auto"),
            }
            out = subprocess.run(
                [go, "install", f"{self.module}@{self.version}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            built = Path(gobin) / self.built_name
            if out.returncode != 0 or not built.is_file():
                raise self.error(
                    f"go install {self.module}@{self.version} failed:\n"
                    f"{(out.stdout + out.stderr)[-2000:]}"
                )
            built.replace(target)
        return target
