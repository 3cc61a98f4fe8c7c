"""The ``echonet`` command line, one module per command group. Only these modules print.

* :mod:`.main`: the parser assembled from the groups, and the dispatch that turns exceptions into exit codes;
* :mod:`.common`: exit codes, the one-line error, JSON output, shared helpers; :mod:`.args`: argument types;
* :mod:`.decode`: ``decode`` and ``spec``; :mod:`.node`: ``discover``, ``get``, ``set``, ``watch``, ``doctor``;
* :mod:`.serve`: ``serve`` and ``demo``; :mod:`.drready`: ``drready check`` and ``drready requirements``;
* :mod:`.secure`: ``secure ...``; :mod:`.secure_support`: the ``--secure`` options of get, set, serve and demo.

Exit codes: 0 success, 1 failed, 2 bad usage (a missing optional extra included); the node and DRready commands
add 3 and 4 (see their modules).
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
