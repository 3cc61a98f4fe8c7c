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
from collections.abc import Callable, Iterable, Iterator
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
    from secure.policy.roles import RoleTable
    from secure.trust.certification import CertificationPolicy

    require = None
    if paths.certification.exists():
        document = store.read_json(paths.certification)
        wanted = document.get("require") if isinstance(document, dict) else None
        if wanted is not None:
            if not (isinstance(wanted, list) and len(wanted) == 2):
                raise SecureUsageError(f"{paths.certification}: 'require' is [programme, level]")
            require = (str(wanted[0]), str(wanted[1]))
    certification = CertificationPolicy(require=require, withdrawals=paths.withdrawals, issuers=[*chain, *roots])
    verifier = CertificateVerifier(
        roots, allowlist=allow, role=peer_role, intermediates=chain, certification=certification
    )
    roles = RoleTable.load(paths.roles) if paths.roles.exists() else None
    config = SecureConfig(
        credential=local,
        verifier=verifier,
        initiate=side == "controller",
        respond=side == "device",
        roles=roles,
    )
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

    overrides = {"plain_multicast": True} if getattr(args, "legacy", False) else {}
    security = security_from_args(args, "controller", **overrides)
    if security is None:
        raise EchonetUsageError("open_secure_controller needs --secure")
    controller = await open_controller(
        endpoints,
        security.config,
        node=node,
        node_config=node_config,
        policy=security.policy,
        audit=security.audit,
        wall_clock=wall_clock,
    )
    _use_group(args, controller.layer, manage=True)
    return controller


def _use_group(args: argparse.Namespace, layer: Any, *, manage: bool) -> None:
    """Keep the group key in the identity directory (``group.json``): a controller manages the group and hands
    its key to every enrolled device it has a session with; a device keeps what it was handed across restarts."""
    import time

    from secure import store
    from secure.records.groupstore import GroupStore

    with _as_echonet_errors():
        layer.use_group_store(GroupStore(store.NodePaths.at(args.identity).group), time.monotonic(), manage=manage)


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
    server = await open_server(
        node,
        endpoints,
        security.config,
        policy=security.policy,
        audit=security.audit,
        wall_clock=wall_clock,
        start=start,
    )
    _use_group(args, server.layer, manage=False)
    return server


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
    _use_group(args, layer, manage=False)
    if getattr(args, "setup_code", False):
        from secure.trust.onboarding import SetupCode

        code = SetupCode.generate(security.identity.id_number)
        layer.pairing = pairing_side(security, code, "device")
        show_setup_code(code)
    runner.use_layer(layer)
    return layer


def add_setup_code_argument(parser: argparse.ArgumentParser) -> None:
    """``--setup-code``: start in setup mode (onboarding with a setup code, shown once)."""
    parser.add_argument(
        "--setup-code",
        action="store_true",
        help="with --secure: start in setup mode and show a new setup code once (text and QR); a controller pairs "
        "with 'echonet secure pair HOST --code CODE'",
    )


def show_setup_code(code: Any, out: Any = None) -> None:
    """Print the setup code once: the numeric code, the QR payload, and the QR as text art when the ``qr`` extra
    (``qrcode``) is installed."""
    import io
    import sys

    stream = out if out is not None else sys.stderr
    print(f"setup code: {code.numeric}", file=stream)
    print(f"setup QR payload: {code.qr_payload}", file=stream)
    try:
        import qrcode  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        print("(install the 'qr' extra to show it as a QR code: pip install 'echonet-da[qr]')", file=stream)
        return
    qr = qrcode.QRCode(border=1)
    qr.add_data(code.qr_payload)
    qr.make(fit=True)
    art = io.StringIO()
    qr.print_ascii(out=art)
    print(art.getvalue(), end="", file=stream)


def pairing_side(security: NodeSecurity, code: Any, side: Side) -> Any:
    """The pairing object (:mod:`secure.trust.onboarding`) of a node for ``code``: it validates the peer's chain
    with the node's trust anchors and pins the peer's certificate on the node's allow-list."""
    import time

    from secure.errors import SecureUsageError
    from secure.trust import credentials
    from secure.trust.onboarding import PairingController, PairingDevice
    from secure.trust.verifiers import CertificateVerifier

    verifier = security.config.verifier
    if not isinstance(verifier, CertificateVerifier):
        raise SecureUsageError("pairing needs a certificate identity (echonet secure issue)")
    own = [security.certificate, *verifier.intermediates]

    def validate(chain: list[x509.Certificate]) -> credentials.EchonetIdentity:
        return credentials.verify_chain(
            chain[0],
            roots=verifier.roots,
            intermediates=[*chain[1:], *verifier.intermediates],
            crls=security.allowlist.crls(),
            now=time.time(),
            role=verifier.role,
        ).identity

    def pin(cert: x509.Certificate) -> None:
        label = "paired with a setup code"
        security.allowlist.enrol_certificate(cert, now=time.time(), label=label)

    if side == "device":
        return PairingDevice(code, own, validate=validate, pin=pin)
    return PairingController(code, own, validate=validate, pin=pin)


def security_label(controller: Any, host: str) -> dict[str, Any] | None:
    """How a discovered node stands with the secure overlay, as ``echonet discover --secure`` shows it (``None``
    for a plain controller): ``secured`` now (a session, with the peer's identity and certification status),
    ``enrolled`` (secure, no session now), ``legacy`` (plain ECHONET Lite, with the consents active for it) or
    ``unknown``; ``overlay`` says whether it offers the overlay (``None``: not known)."""
    import time

    layer = getattr(controller, "layer", None)  # (a SecureController's; a plain controller has none)
    if layer is None:
        return None
    status = layer.peer_status(host)
    state = {"secure": "secured", "secure-enrolled": "enrolled"}.get(status, status)
    label: dict[str, Any] = {"state": state, "overlay": {"secured": True, "enrolled": True, "legacy": False}.get(state)}
    info = layer.session_info(host)
    member = next((who for (ip, _port), who in reversed(layer.group_peers.items()) if ip == host), None)
    if info is None and member is not None:  # answered by group records (signed by the member's key)
        label.update({"state": "secured", "overlay": True, "via": "group", "identity": member})
        label.update({"certification": None, "certification_status": None, "role": None})
    if info is not None:
        label["identity"] = info["identity"]
        label["certification"] = info["certification"]
        label["certification_status"] = info["certification_status"]
        label["role"] = info["role"]
    if state == "legacy":
        now = time.time()
        grants = [g for g in layer.policy.grants(now=now, active_only=True) if g.scope.peer == host]
        label["consents"] = [g.id for g in grants]
    return label


def plain_seen(controller: Any, found: Iterable[str]) -> list[dict[str, Any]]:
    """Nodes that answered secured discovery in plain (legacy ECHONET Lite), not among ``found``: reported as
    legacy, never merged with the secured ones (``reason``: why the policy kept their frames out)."""
    layer = getattr(controller, "layer", None)
    if layer is None:
        return []
    shown = set(found)
    return [
        {"host": ip, "state": "legacy", "overlay": False, "refused": reason}
        for ip, reason in layer.plain_refused.items()
        if ip not in shown
    ]


def security_lines(label: dict[str, Any] | None) -> list[str]:
    """The text lines of :func:`security_label` (none for a plain controller)."""
    if label is None:
        return []
    state = label["state"]
    if state == "secured":
        cert = label.get("certification")
        certified = (
            "no certification"
            if cert is None
            else f"{cert['programme']} level {cert['level']} ({cert['identifier']}): {label['certification_status']}"
        )
        text = f"secured now (identity {label['identity']}, {certified})"
        if label.get("via") == "group":
            text = f"secured now by group records (identity {label['identity']}, signed by its certificate key)"
    elif state == "enrolled":
        text = "enrolled (offers the overlay; no session now)"
    elif state == "legacy":
        consents = label.get("consents") or []
        text = (
            "legacy, plain ECHONET Lite ("
            + ("under consent " + ", ".join(consents) if consents else "read-only: no consent")
            + ")"
        )
    else:
        text = f"{state} (not enrolled, not classified)"
    return [f"  security             {text}"]
