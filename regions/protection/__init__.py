"""Data protection: on-demand backups, point-in-time recovery, exports and imports.

Everything here writes to or reads from an :class:`regions.protection.objects.ObjectStore`:
an S3-compatible service when the region is given one, else storage next to the
region's own store (docs/data-protection.md).
"""
