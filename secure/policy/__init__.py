"""The coexistence policy between secured and plain (legacy) ECHONET Lite peers, and consent. Default deny, pure.

By job:

* :mod:`secure.policy.rules`: peer classification (unknown, secure, legacy), the decisions for every frame in and
  out (:class:`~secure.policy.rules.Policy`, pure) and their persisted, audited form
  (:class:`~secure.policy.rules.PolicyStore`);
* :mod:`secure.policy.consent`: consent grants to write to a legacy device: their scope, their record, and the
  warning shown before one is given;
* :mod:`secure.policy.values`: the terms both speak of (ESVs, peers, EOJs, EPCs, durations, protocol versions),
  parsed from what an operator types.
"""
