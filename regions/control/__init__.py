"""The control plane: tables, settings, indexes, streams and replicas.  See
:mod:`regions.control.plane`."""

from regions.control.plane import ControlPlane
from regions.control.replicas import PeerLink
from regions.control.table_changes import NewTable, TableUpdate

__all__ = ["ControlPlane", "NewTable", "PeerLink", "TableUpdate"]
