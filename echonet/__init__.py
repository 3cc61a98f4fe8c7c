"""ECHONET Lite for Python: frame codec, typed property tables, sans-I/O node, DRready models.

The most used names are importable from here::

    from echonet import decode, encode, Frame, EOJ, Property, ESV, EHD2, FrameDecodeError
"""

from .codec import decode, encode
from .errors import (
    CaptureError,
    EchonetError,
    EchonetTimeoutError,
    EchonetUsageError,
    FrameDecodeError,
    ValueDecodeError,
)
from .frame import EHD2, EOJ, ESV, Frame, Property

__all__ = [
    "EHD2",
    "EOJ",
    "ESV",
    "CaptureError",
    "EchonetError",
    "EchonetTimeoutError",
    "EchonetUsageError",
    "Frame",
    "FrameDecodeError",
    "Property",
    "ValueDecodeError",
    "decode",
    "encode",
]

__version__ = "0.1.0"
