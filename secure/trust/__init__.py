"""Trust: who may have a session. Certificates and CAs, allow-lists, revocation, and the verifiers that apply them.

By job:

* :mod:`secure.trust.credentials`: the X.509 profile (P-256, identity binding to EPC 0x83 / 0x8A, roles), CAs and
  their directories, issuing, chain validation, CRLs and revocation;
* :mod:`secure.trust.allowlist`: the per-node allow-list of pinned peer keys, enrolled explicitly;
* :mod:`secure.trust.verifiers`: the peer verifiers a secure layer calls for every peer credential
  (:class:`~secure.trust.verifiers.CertificateVerifier`, :class:`~secure.trust.verifiers.PinnedKeyVerifier`).

Errors: :mod:`secure.errors` (:class:`~secure.errors.CertificateError`,
:class:`~secure.errors.CredentialRejectedError`).
"""
