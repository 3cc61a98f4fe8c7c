"""The handshake: EDHOC (RFC 9528) and the CBOR and COSE pieces it is built from. Pure: bytes in, bytes out.

By job:

* :mod:`secure.handshake.edhoc`: the sans-I/O :class:`~secure.handshake.edhoc.Initiator` and
  :class:`~secure.handshake.edhoc.Responder` state machines, and the OSCORE parameters they export;
* :mod:`secure.handshake.messages`: the EDHOC messages and plaintexts, encoded and strictly decoded;
* :mod:`secure.handshake.keys`: the key schedule (transcript hashes, PRKs, MACs, keystreams, exporter);
* :mod:`secure.handshake.suites`: the cipher suites and their primitives (hash, HKDF, AEAD, ECDH, signatures);
* :mod:`secure.handshake.cose`: credentials (X.509, CCS), ID_CRED header maps, Sig_structure and Enc_structure;
* :mod:`secure.handshake.cbor`: the small, strict deterministic CBOR codec under all of them.

Errors: :mod:`secure.errors` (:class:`~secure.errors.EdhocError`, :class:`~secure.errors.CborError`, ...).
"""
