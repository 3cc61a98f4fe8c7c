"""The ``openadr`` extra (openleadr), loaded once and quietly.

openleadr imports signxml, whose type hints name DSA keys and so make the installed ``cryptography`` warn
(``CryptographyDeprecationWarning: DSA is deprecated``) at import. That warning says nothing about this stack,
which never uses DSA (OpenADR 2.0b signs with RSA or ECDSA), and it would be the first thing a user of `echonet demo`
reads; so the import is made with that one warning filtered, and every other warning kept. The same for aiohttp's
advice to openleadr's server about its application keys (``NotAppKeyWarning``), raised each time a VTN starts."""

from __future__ import annotations

import warnings

from ..errors import require_extra


def load_openleadr(purpose: str) -> None:
    """Import openleadr for ``purpose`` (a missing extra: :class:`~echonet.errors.MissingExtraError`)."""
    require_extra("openleadr", "openadr", purpose)
    warnings.filterwarnings("ignore", message=r"It is recommended to use web\.AppKey", module=r"openleadr(\..*)?$")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"DSA is deprecated", module=r"signxml(\..*)?$")
        import openleadr
        import openleadr.service  # noqa: F401
