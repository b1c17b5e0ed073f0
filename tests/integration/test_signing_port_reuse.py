"""A client that learned a region's name from its address keeps working when another
region takes that address (a deployment restarted on reused ports): the region
refuses the old credential scope, the client asks /healthz again and signs anew.
Names given by the caller are never re-learned.  Real region processes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from regions.sigv4 import Credentials
from replicator.signing import KeySigner, SigV4
from tests.fixtures.regions import ADMIN_KEY_ID, ADMIN_SECRET, RegionProcess, free_port

pytestmark = pytest.mark.integration


def _signer() -> KeySigner:
    return KeySigner(Credentials(ADMIN_KEY_ID, ADMIN_SECRET))


def test_a_learned_region_name_is_learned_again_when_the_address_changes_hands(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = RegionProcess("sig-first-1", port, f"sqlite:///{tmp_path}/a.db", log_dir=tmp_path)
    learned = httpx.Client(auth=SigV4(_signer()), timeout=10)
    named = httpx.Client(
        auth=SigV4(_signer(), {f"http://127.0.0.1:{port}": "sig-first-1"}), timeout=10
    )
    try:
        first.start()
        for client in (learned, named):
            assert client.get(f"{first.url}/v1/admin/users").status_code == 200
        first.stop()  # waits for the process to exit: the port is free again
        second = RegionProcess("sig-second-1", port, f"sqlite:///{tmp_path}/b.db", log_dir=tmp_path)
        second.start()
        try:
            # the learned name is refreshed and the request signed for the new region
            assert learned.get(f"{second.url}/v1/admin/users").status_code == 200
            # a configured name stays: the region behind the address refuses it
            refused = named.get(f"{second.url}/v1/admin/users")
            assert refused.status_code == 403
            assert "Credential should be scoped to a valid region" in refused.text
        finally:
            second.stop()
    finally:
        first.stop()
        learned.close()
        named.close()
