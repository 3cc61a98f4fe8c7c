"""The ``echonet`` command line, one module per command group. Only these modules print.

* :mod:`.main`: the parser assembled from the groups, and the dispatch that turns exceptions into exit codes;
* :mod:`.common`: exit codes, the one-line error, the parser class, the JSON vocabulary (docs/json.md);
  :mod:`.args`: argument types and the one parser of hosts and of EOJs every command uses;
* :mod:`.decode`: ``decode`` and ``spec``; :mod:`.node`: ``discover``, ``get``, ``set``, ``watch``, ``doctor``;
* :mod:`.serve`: ``serve`` and ``demo``; :mod:`.drready`: ``drready check`` and ``drready requirements``;
* :mod:`.secure`: ``secure ...``; :mod:`.secure_support`: the ``--secure`` options of get, set, serve and demo.

Exit codes: 0 success, 1 failed, 2 bad usage (a missing optional extra and a command line that does not parse
included); the node and DRready commands add 3 and 4 (see their modules). Every failure is one line on stderr; with
``--json`` also an error document on stdout.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
