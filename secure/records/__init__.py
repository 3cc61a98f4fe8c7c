"""The record layer: secured datagrams on UDP 3610 and the OSCORE-style protection of the frames they carry.

By job (see ``docs/records.md``):

* :mod:`secure.records.framing`: the datagram framing (handshake, cookie, data and close records) and its
  :class:`~secure.records.framing.RecordFormat`;
* :mod:`secure.records.oscore`: the RFC 8613 key schedule, nonce, AAD and AEAD, the key-usage limits, and the
  :class:`~secure.records.oscore.SecurityContext` that protects and unprotects records;
* :mod:`secure.records.replay`: the sliding replay window of each sender;
* :mod:`secure.records.sequence`: sender sequence numbers, in memory or persisted so a restart never reuses one.

Errors: :mod:`secure.errors` (:class:`~secure.errors.RecordError` and its subclasses).
"""
