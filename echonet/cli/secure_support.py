"""Glue for the ``--secure`` options of ``echonet get/set/serve/demo``.

::

    add_secure_arguments(parser)                       # --secure, --identity DIR, --allow-list FILE, --audit FILE
    ...
    if args.secure:
        ctl = await open_secure_controller(args, endpoints, node_config=config)
        server = await open_secure_server(args, node, endpoints)

The identity directory is a node store made by ``echonet secure issue`` (see :class:`secure.store.NodePaths`): the
node's key and certificate, the chain and trust anchors, the allow-list, the policy (legacy consent) and the audit
log. ``--allow-list`` and ``--audit`` override the files inside it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import EchonetError, EchonetUsageError

# Only light imports at module level: the echonet CLI builds its parsers with add_secure_arguments() on every run,
# and the overlay (cryptography, EDHOC) is loaded only when --secure is given.
if TYPE_CHECKING:
    from cryptography import x509

    from secure.audit import AuditLog
    from secure.layer.aio import SecureController, SecureDeviceServer
    from secure.layer.config import SecureConfig
    from secure.layer.core import SecureLayer
    from secure.policy.rules import PolicyStore
    from secure.trust.allowlist import AllowList
    from secure.trust.credentials import EchonetIdentity

    from ..aio import Endpoints, NodeRunner
    from ..node import Node, NodeConfig

__all__ = [
    "NodeSecurity",
    "add_secure_arguments",
    "attach_secure_server",
    "load_node_security",
    "node_profile_identity",
    "open_secure_controller",
    "open_secure_server",
    "security_from_args",
]

Side = Literal["controller", "device"]


@dataclass
class NodeSecurity:
    """Everything a secured node needs, loaded from its identity directory."""

    config: SecureConfig
    policy: PolicyStore
    audit: AuditLog
    allowlist: AllowList
    identity: EchonetIdentity
    certificate: x509.Certificate

    def close(self) -> None:
        self.audit.close()


def add_secure_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--secure``, ``--identity``, ``--allow-list`` and ``--audit`` to a subcommand's parser."""
    group = parser.add_argument_group("secure overlay")
    group.add_argument(
        "--secure",
        action="store_true",
        help="use the secure overlay (EDHOC + OSCORE); plaintext only where the policy allows",
    )
    group.add_argument(
        "--identity",
        metavar="DIR",
        default=os.environ.get("ECHONET_IDENTITY"),
        help="node identity directory from 'echonet secure issue' (default: $ECHONET_IDENTITY)",
    )
    group.add_argument(
        "--allow-list", metavar="FILE", dest="allow_list", help="allow-list of peer keys (default: DIR/allowlist.json)"
    )
    group.add_argument("--audit", metavar="FILE", help="audit log (default: DIR/audit.jsonl)")


@contextmanager
def _as_echonet_errors() -> Iterator[None]:
    """Secure-side failures become the echonet CLI's errors (usage: exit 2, other: exit 1), never a traceback."""
    from secure.errors import SecureError, SecureUsageError

    try:
        yield
    except EchonetError:
        raise
    except SecureUsageError as exc:
        raise EchonetUsageError(f"secure: {exc}") from None
    except SecureError as exc:
        raise EchonetError(f"secure: {exc}") from None


def load_node_security(
    directory: str | os.PathLike[str],
    side: Side,
    *,
    allow_list: str | os.PathLike[str] | None = None,
    audit: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> NodeSecurity:
    """Load a node identity directory. ``side``: ``controller`` (initiates, expects device certificates) or
    ``device`` (responds, expects controller certificates). ``overrides`` replace :class:`SecureConfig` fields."""
    from cryptography.hazmat.primitives import serialization

    from secure import audit as audit_mod
    from secure import store
    from secure.audit import AuditLog
    from secure.errors import SecureUsageError
    from secure.handshake.cose import Credential, LocalCredential
    from secure.layer.config import SecureConfig
    from secure.policy.rules import PolicyStore
    from secure.trust import credentials
    from secure.trust.allowlist import AllowList
    from secure.trust.verifiers import CertificateVerifier

    def der(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.DER)

    paths = store.NodePaths.at(directory)
    if not paths.directory.is_dir():
        raise SecureUsageError(f"identity directory {paths.directory} does not exist")
    for needed in (paths.key, paths.cert, paths.trust):
        if not needed.exists():
            raise SecureUsageError(f"{needed} is missing (create it with 'echonet secure issue')")
    extra = [] if allow_list is None else [Path(allow_list)]
    if audit is not None:
        extra += [Path(audit), audit_mod.head_path(audit)]
    store.check_node_store(paths.directory, tuple(extra))  # (one line naming the file and the chmod that fixes it)
    key = credentials.load_private_key(paths.key)
    cert = credentials.load_certificate(paths.cert)
    chain = credentials.load_certificates(paths.chain) if paths.chain.exists() else []
    roots = credentials.load_certificates(paths.trust)
    log = AuditLog(Path(audit) if audit is not None else paths.audit, key=paths.audit_key)
    allow = AllowList(Path(allow_list) if allow_list is not None else paths.allowlist, audit=log)
    allow.watch_crl_file(paths.crl, [*chain, *roots])  # (re-read when a new CRL is written, also if none is yet)
    local = LocalCredential(Credential.from_x509(der(cert), chain=[der(c) for c in chain]), key)
    peer_role = credentials.Role.DEVICE if side == "controller" else credentials.Role.CONTROLLER
    verifier = CertificateVerifier(roots, allowlist=allow, role=peer_role, intermediates=chain)
    config = SecureConfig(credential=local, verifier=verifier, initiate=side == "controller", respond=side == "device")
    if overrides:
        config = replace(config, **overrides)
    policy = PolicyStore(paths.policy, audit=log)
    return NodeSecurity(config, policy, log, allow, credentials.bound_identity(cert), cert)


def security_from_args(args: argparse.Namespace, side: Side, **overrides: Any) -> NodeSecurity | None:
    """The node's security from parsed arguments, or ``None`` without ``--secure``."""
    if not getattr(args, "secure", False):
        return None

    if not getattr(args, "identity", None):
        raise EchonetUsageError("--secure needs --identity DIR (or $ECHONET_IDENTITY)")
    with _as_echonet_errors():
        return load_node_security(
            args.identity,
            side,
            allow_list=getattr(args, "allow_list", None),
            audit=getattr(args, "audit", None),
            **overrides,
        )


def node_profile_identity(args: argparse.Namespace) -> bytes | None:
    """The identification number (0x83) a secured device must report: the one its certificate binds."""
    if not getattr(args, "secure", False) or not getattr(args, "identity", None):
        return None
    from secure import store
    from secure.trust import credentials

    with _as_echonet_errors():
        cert = credentials.load_certificate(store.NodePaths.at(args.identity).cert)
        return credentials.bound_identity(cert).id_number


async def open_secure_controller(
    args: argparse.Namespace,
    endpoints: Endpoints | None = None,
    *,
    node_config: NodeConfig | None = None,
    node: Node | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> SecureController:
    """A secured controller from ``--identity`` / ``--allow-list`` / ``--audit``."""
    from secure.layer.aio import open_secure_controller as open_controller

    security = security_from_args(args, "controller")
    if security is None:
        raise EchonetUsageError("open_secure_controller needs --secure")
    return await open_controller(
        endpoints,
        security.config,
        node=node,
        node_config=node_config,
        policy=security.policy,
        audit=security.audit,
        wall_clock=wall_clock,
    )


async def open_secure_server(
    args: argparse.Namespace,
    node: Node,
    endpoints: Endpoints | None = None,
    *,
    start: bool = True,
    wall_clock: Callable[[], float] | None = None,
) -> SecureDeviceServer:
    """A secured device server for ``node`` from ``--identity`` / ``--allow-list`` / ``--audit``.

    The node profile's 0x83 must be the identification number the certificate binds (see
    :func:`node_profile_identity`), or controllers refuse the device after the handshake."""
    from secure.layer.aio import open_secure_server as open_server

    security = security_from_args(args, "device")
    if security is None:
        raise EchonetUsageError("open_secure_server needs --secure")
    reported = node.profile.value(0x83)
    if reported is not None and reported != security.identity.id_number:
        raise EchonetUsageError(
            f"node profile 0x83 {reported.hex().upper()} differs from the certificate's "
            f"{security.identity.id_number.hex().upper()}; controllers would refuse this device"
        )
    return await open_server(
        node,
        endpoints,
        security.config,
        policy=security.policy,
        audit=security.audit,
        wall_clock=wall_clock,
        start=start,
    )


def attach_secure_server(args: argparse.Namespace, runner: NodeRunner) -> SecureLayer:
    """Put an already open device node (e.g. ``echonet serve``'s) behind the secure layer: its node profile takes
    the identification number and manufacturer code the certificate binds, and from now on every datagram goes
    through a :class:`~secure.session.SecureLayer` (what the node sent before is not recalled)."""
    from secure.layer.core import SecureLayer

    security = security_from_args(args, "device")
    if security is None:
        raise EchonetUsageError("attach_secure_server needs --secure")
    node = runner.node
    node.profile.update(0x83, security.identity.id_number, check=False)
    node.profile.update(0x8A, security.identity.maker_code, check=False)
    layer = SecureLayer(node, security.config, policy=security.policy, audit=security.audit)
    runner.use_layer(layer)
    return layer
