"""The convergence verifier's hash tree: pure functions, no store, no I/O.

Regions choose their own partition counts, so the tree cannot follow store
partitions.  Instead every row is placed by a hash of its *key* that every region
computes the same way:

* **bucket** = the first :data:`BUCKET_BITS` bits of BLAKE2b over the encoded key
  (``regions.keys`` encodings, framed unambiguously), so :data:`BUCKETS` = 4096
  leaf buckets;
* **row digest** = 128-bit BLAKE2b over (key, version, canonical item bytes) of a
  *live* item.  Tombstones are not hashed: each region garbage-collects them on its
  own schedule (invariant 4), so they may legitimately differ.  Versions are
  hashed: two replicas holding the same bytes under different versions would
  decide a later, delayed write differently (LWW compares versions), so that is a
  divergence in waiting, and a healthy deployment never produces it;
* **leaf** = (item count, sum of the row digests mod 2**128).  A sum is
  order-independent, so a store can maintain it incrementally on every write
  (subtract the old row's digest, add the new one) and a region can keep one sum
  per (partition, bucket) and add them up: the tree is the same whatever the
  partition count;
* **nodes**: a tree of fan-out :data:`FANOUT` above the leaves, depth 0 is the
  root, depth :data:`LEAF_DEPTH` the leaves; an empty subtree hashes to
  :data:`EMPTY`, any other node to BLAKE2b over its children's hashes.

A modular sum of random 128-bit digests is not collision resistant against an
adversary who chooses items (generalised birthday attacks); the verifier looks for
bugs and lost messages, not attackers, and an accidental collision has
probability about 2**-128 per bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from regions.versions import Version

__all__ = [
    "BUCKETS",
    "BUCKET_BITS",
    "EMPTY",
    "FANOUT",
    "LEAF_DEPTH",
    "MODULUS",
    "Leaf",
    "Tree",
    "bucket_of",
    "build_tree",
    "child_ids",
    "combine",
    "format_ids",
    "leaf_hash",
    "nodes_at",
    "parse_ids",
    "row_digest",
]

BUCKET_BITS = 12
BUCKETS = 1 << BUCKET_BITS
FANOUT = 16
#: 16 ** 3 == 4096: root, 16, 256, then the 4096 leaves
LEAF_DEPTH = 3
DIGEST_SIZE = 16
MODULUS = 1 << (8 * DIGEST_SIZE)
EMPTY = bytes(DIGEST_SIZE)

# distinct personalisations, so a bucket hash, a row digest and a node hash can
# never be confused with each other (nor with partition_of's plain BLAKE2b)
_BUCKET_PERSON = b"gt.verify.bucket"
_ROW_PERSON = b"gt.verify.row"
_LEAF_PERSON = b"gt.verify.leaf"
_NODE_PERSON = b"gt.verify.node"

assert FANOUT**LEAF_DEPTH == BUCKETS
assert BUCKET_BITS <= 16


# hashers with their parameters set, copied per use: cheaper than a new one each
# time, and a bucket scan hashes every key of a table
_BUCKET_HASHER = hashlib.blake2b(digest_size=8, person=_BUCKET_PERSON)
_ROW_HASHER = hashlib.blake2b(digest_size=DIGEST_SIZE, person=_ROW_PERSON)


def bucket_of(hk: bytes, rk: bytes) -> int:
    """Leaf bucket of a stored key: the same in every region, whatever its
    partition count."""
    h = _BUCKET_HASHER.copy()
    # key encodings are not self-delimiting (regions.keys): length-prefix the
    # partition key so (b"ab", b"c") and (b"a", b"bc") differ
    h.update(len(hk).to_bytes(4, "big"))
    h.update(hk)
    h.update(rk)
    return int.from_bytes(h.digest()[:2], "big") >> (16 - BUCKET_BITS)


def row_digest(hk: bytes, rk: bytes, version: Version, data: bytes) -> int:
    """128-bit digest of one live item: key, version and canonical item bytes."""
    origin = version.origin.encode()
    h = _ROW_HASHER.copy()
    # every variable-length field but the last is length-prefixed: unambiguous
    h.update(len(hk).to_bytes(4, "big"))
    h.update(hk)
    h.update(len(rk).to_bytes(4, "big"))
    h.update(rk)
    # the store keeps hlc in a signed 64-bit column: any stored value fits
    h.update(version.hlc.to_bytes(8, "big", signed=True))
    h.update(len(origin).to_bytes(2, "big"))
    h.update(origin)
    # the item bytes come last, so they need no length
    h.update(data)
    return int.from_bytes(h.digest(), "big")


@dataclass(frozen=True, slots=True)
class Leaf:
    """One bucket's summary: live item count and digest sum mod 2**128."""

    count: int = 0
    total: int = 0

    def __add__(self, other: Leaf) -> Leaf:
        return Leaf(self.count + other.count, (self.total + other.total) % MODULUS)

    def with_row(self, digest: int) -> Leaf:
        return Leaf(self.count + 1, (self.total + digest) % MODULUS)

    def without_row(self, digest: int) -> Leaf:
        return Leaf(self.count - 1, (self.total - digest) % MODULUS)


def combine(parts: Iterable[tuple[int, Leaf]]) -> dict[int, Leaf]:
    """Add per-(partition, bucket) leaves into per-bucket leaves."""
    out: dict[int, Leaf] = {}
    for bucket, leaf in parts:
        prev = out.get(bucket)
        out[bucket] = leaf if prev is None else prev + leaf
    return {b: leaf for b, leaf in out.items() if leaf.count or leaf.total}


def leaf_hash(leaf: Leaf) -> bytes:
    if leaf.count == 0 and leaf.total == 0:
        return EMPTY
    body = leaf.count.to_bytes(8, "big", signed=True) + leaf.total.to_bytes(DIGEST_SIZE, "big")
    return hashlib.blake2b(body, digest_size=DIGEST_SIZE, person=_LEAF_PERSON).digest()


def _node_hash(children: Sequence[bytes]) -> bytes:
    if all(c == EMPTY for c in children):
        return EMPTY
    return hashlib.blake2b(
        b"".join(children), digest_size=DIGEST_SIZE, person=_NODE_PERSON
    ).digest()


@dataclass(frozen=True)
class Tree:
    """Hashes and item counts per depth: ``hashes[d][i]`` is node ``i`` at depth ``d``."""

    hashes: tuple[tuple[bytes, ...], ...]
    counts: tuple[tuple[int, ...], ...]

    @property
    def root(self) -> bytes:
        return self.hashes[0][0]

    @property
    def count(self) -> int:
        return self.counts[0][0]


def build_tree(leaves: Mapping[int, Leaf]) -> Tree:
    """The whole tree from the non-empty leaves (bucket -> Leaf)."""
    level = [EMPTY] * BUCKETS
    counts = [0] * BUCKETS
    for bucket, leaf in leaves.items():
        level[bucket] = leaf_hash(leaf)
        counts[bucket] = leaf.count
    hashes = [tuple(level)]
    all_counts = [tuple(counts)]
    while len(level) > 1:
        level = [_node_hash(level[i : i + FANOUT]) for i in range(0, len(level), FANOUT)]
        counts = [sum(counts[i : i + FANOUT]) for i in range(0, len(counts), FANOUT)]
        hashes.append(tuple(level))
        all_counts.append(tuple(counts))
    return Tree(tuple(reversed(hashes)), tuple(reversed(all_counts)))


def nodes_at(depth: int) -> int:
    if not 0 <= depth <= LEAF_DEPTH:
        raise ValueError(f"depth must be between 0 and {LEAF_DEPTH}")
    return int(FANOUT**depth)


def child_ids(ids: Iterable[int]) -> list[int]:
    """Children (one level down) of the given nodes, in order."""
    return [c for i in sorted(set(ids)) for c in range(i * FANOUT, (i + 1) * FANOUT)]


def parse_ids(text: str, limit: int) -> list[int]:
    """``"3,17,200-210"`` -> sorted distinct ids, each in ``[0, limit)``.

    Ranges keep "every bucket" (a replica that lost everything) a short query
    string instead of 4096 numbers.
    """
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        first = int(lo)
        last = int(hi) if sep else first
        if not 0 <= first <= last < limit:
            raise ValueError(f"id range {part!r} is outside 0..{limit - 1}")
        out.update(range(first, last + 1))
    return sorted(out)


def format_ids(ids: Iterable[int]) -> str:
    """Inverse of :func:`parse_ids`, with consecutive runs as ranges."""
    runs: list[str] = []
    start = prev = None
    for i in sorted(set(ids)):
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        runs.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(runs)
