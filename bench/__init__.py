"""Benchmarks of globaltables: a DynamoDB load generator, peer servers, the harness of
``make bench`` and the replication benchmark (see docs/benchmarks.md)."""

from __future__ import annotations
