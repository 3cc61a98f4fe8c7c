"""The one compiled part: secure.records._aead, AES-128-CCM for the record hot path (see its source).

Optional: without a C compiler or OpenSSL's headers (Debian: libssl-dev) the build skips it and the records use
cryptography's AESCCM, with the same results (everything else is in pyproject.toml).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "secure.records._aead",
            sources=["secure/records/_aead.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]
)
