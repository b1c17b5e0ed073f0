"""``python -m globaltables.wan``: the child side of :class:`WanProcess`."""

import sys

from globaltables.wan.process import serve

raise SystemExit(serve(sys.stdin, sys.stdout))
