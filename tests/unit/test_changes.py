"""The replication wire format of change records, byte for byte (regions/changes.py).

Regions of different versions read each other's records off Kafka: a renamed,
reordered or retyped field must fail here, not in a deployment.  The signature
(replicator/record_auth.py) covers these exact bytes, so they are part of the
contract too.
"""

from __future__ import annotations

from dataclasses import replace

from regions.changes import ChangeRecord
from regions.versions import Version
from replicator.record_auth import ReplicationKeys

GOLDEN = (
    b'{"v":1,"table":"Orders","table_id":"6f1c2b0e-0000-4000-8000-000000000001",'
    b'"event":"MODIFY","keys":{"id":{"S":"o-1"}},"new":{"id":{"S":"o-1"},"total":{"N":"42"}},'
    b'"hlc":117900000000000001,"origin":"us-east-1"}'
)
GOLDEN_STORED = (
    b'{"v":1,"table":"Orders","table_id":"6f1c2b0e-0000-4000-8000-000000000001",'
    b'"event":"MODIFY","keys":{"id":{"S":"o-1"}},"new":{"id":{"S":"o-1"},"total":{"N":"42"}},'
    b'"old":{"id":{"S":"o-1"},"total":{"N":"41"}},"hlc":117900000000000001,'
    b'"origin":"us-east-1","hk":"by0x"}'
)
#: HMAC-SHA256 of GOLDEN for us-east-1's topic under the key below, and that key's id
MAC_HEX = "0800cf97b661cbee410e6de820d3ac76698050c64f59671fddecf11cf4115618"
KID = "1d5ed7583e12"
RECORD = ChangeRecord(
    table="Orders",
    table_id="6f1c2b0e-0000-4000-8000-000000000001",
    event="MODIFY",
    keys={"id": {"S": "o-1"}},
    new_image={"id": {"S": "o-1"}, "total": {"N": "42"}},
    old_image={"id": {"S": "o-1"}, "total": {"N": "41"}},
    version=Version(117_900_000_000_000_001, "us-east-1"),
    hash_key=b"o-1",
)


def test_wire_bytes_are_pinned() -> None:
    # the schema version first, old images never shipped (invariant 6)
    assert RECORD.encode() == GOLDEN
    assert RECORD.message_key() == b"Orders\x00o-1"


def test_golden_bytes_decode_to_the_record() -> None:
    decoded = ChangeRecord.decode(GOLDEN)
    assert decoded.version == RECORD.version
    assert (decoded.table, decoded.table_id, decoded.event) == ("Orders", RECORD.table_id, "MODIFY")
    assert decoded.keys == RECORD.keys and decoded.new_image == RECORD.new_image
    assert decoded.old_image is None
    assert decoded.encode() == GOLDEN


def test_stored_bytes_are_pinned_and_read_back() -> None:
    assert RECORD.encode_stored() == GOLDEN_STORED
    back = ChangeRecord.decode_stored(GOLDEN_STORED, seq=7, created_ms=1234)
    assert back.old_image == RECORD.old_image and back.hash_key == b"o-1"
    assert (back.seq, back.created_ms, back.service) == (7, 1234, False)
    # a TTL delete's service flag stays local, in the stored form only
    service = replace(RECORD, service=True)
    assert service.encode() == GOLDEN
    assert service.encode_stored() == GOLDEN_STORED[:-1] + b',"svc":true}'


def test_signature_over_the_golden_bytes_is_pinned() -> None:
    """The MAC's input layout is part of the wire contract: regions of two versions
    must agree on it, so a change to it must fail here."""
    keys = ReplicationKeys(("golden-replication-key-0123",))
    headers = dict(keys.sign("us-east-1", RECORD.message_key(), GOLDEN))
    assert headers["gt-kid"] == KID.encode() == keys.signing_kid.encode()
    assert headers["gt-mac"].hex() == MAC_HEX
