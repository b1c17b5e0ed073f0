"""The README's "Use it" runs as printed: its Python block against ``globaltables
demo``, its shell block (regions started by hand) end to end.

The README names the default ports (regions 8000 and 8001, Kafka 9092); the test's
demo and broker run on free ports, so the blocks are rewritten to those ports (and
nothing else, but for the paths noted below) before they run.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.demo import clean_env, running_demo
from tests.fixtures.regions import REPO, free_ports

pytestmark = pytest.mark.integration

README = REPO / "README.md"


def assert_replicated(stdout: str) -> None:
    """The script printed the item it wrote in us-east-1, as read in eu-west-1."""
    found = re.search(r"^replicated to eu-west-1: (\{.*\})$", stdout, re.M)
    assert found, stdout
    item = ast.literal_eval(found[1])
    assert item["id"] == {"S": "hello"} and item["from"] == {"S": "us-east-1"}, item
    assert int(item["written"]["N"]) > 0, item


def use_it_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the README's "Use it" section."""
    text = README.read_text()
    section = text.split("\n## Use it\n", 1)[1].split("\n## ", 1)[0]
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w+)\n(.*?)^```$", section, re.S | re.M)]


def block(language: str, index: int = 0) -> str:
    found = [code for lang, code in use_it_blocks() if lang == language]
    assert len(found) > index, f"README's 'Use it' lacks {language} block {index}"
    return found[index]


def with_ports(code: str, ports: dict[int, int]) -> str:
    """``code`` with the README's ports (127.0.0.1:PORT, --port PORT) replaced."""
    for old, new in ports.items():
        code = re.sub(rf"(127\.0\.0\.1:|--port ){old}\b", rf"\g<1>{new}", code)
    return code


def test_use_it_section_shape() -> None:
    # the top of the README stays the two set-up commands
    assert README.read_text().startswith("# globaltables\n\n```bash\nmake demo ")
    languages = [lang for lang, _ in use_it_blocks()]
    assert languages[:2] == ["python", "bash"], languages
    python = block("python")
    assert '"demo"' in python and '"demo-secret"' in python
    assert "http://127.0.0.1:8000" in python and "http://127.0.0.1:8001" in python


def test_readme_python_runs_against_the_demo(tmp_path: Path) -> None:
    with running_demo(tmp_path / "demo") as demo:
        # the README's endpoints are the demo's default ports; this demo runs elsewhere
        code = with_ports(block("python"), {8000: demo.base_port, 8001: demo.base_port + 1})
        script = tmp_path / "try_it.py"
        script.write_text(code)
        # twice: the second run finds the table and its replica there already
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, str(script)], cwd=tmp_path, env=clean_env(),
                capture_output=True, text=True, timeout=120,
            )
            assert out.returncode == 0, out.stdout + out.stderr + demo.output()
            assert_replicated(out.stdout)


def test_readme_hand_started_regions(tmp_path: Path) -> None:
    """The shell block, run in a scratch directory: its ``.data`` lands there, and
    ``.venv/bin`` is this checkout's; ``make setup`` is skipped (the suite has it)."""
    east, west, kafka = free_ports(3)
    ports = {8000: east, 8001: west, 9092: kafka}
    (tmp_path / "try_it.py").write_text(with_ports(block("python"), ports))
    shell = with_ports(block("bash"), ports)
    shell = "\n".join(line for line in shell.splitlines() if not line.startswith("make "))
    shell = shell.replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    script = tmp_path / "by_hand.sh"
    script.write_text(shell + "\n")
    proc = subprocess.Popen(
        ["bash", "-e", str(script)], cwd=tmp_path, env=clean_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its background regions share its process group
    )
    try:
        stdout, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        # whatever of the regions the block's own `kill` did not stop
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        from globaltables import kafka_broker

        if kafka_broker.status(tmp_path / ".data" / "kafka") is not None:
            kafka_broker.stop(tmp_path / ".data" / "kafka")
    logs = "".join(
        f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in (tmp_path / ".data").glob("*.log")
    )
    assert proc.returncode == 0, stdout + logs
    assert_replicated(stdout + logs)
