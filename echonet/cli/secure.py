"""``echonet secure ...``: CA, certificates, allow-list, legacy consent and audit commands.

The main CLI mounts these with :func:`register` and dispatches with ``args.handler(args)`` (also available
as ``args.func``), which returns the exit code. Every handler prints one line to stderr and returns non-zero on
bad input, never a traceback.
``python -m echonet.cli.secure secure ...`` runs the commands without the main CLI.

A *CA directory* is made by ``init-ca`` (see :class:`secure.credentials.CaPaths`); a *node directory* holds
one node's key, certificate, trust anchors, allow-list, policy and audit log (see ``NodePaths`` in store).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from secure import audit, credentials, store
from secure.allowlist import AllowList
from secure.errors import SecureError, SecureUsageError
from secure.policy import (
    SET_ESVS,
    ConsentGrant,
    ConsentScope,
    Direction,
    PeerKind,
    PolicyStore,
    describe_version,
    esv_name,
    parse_duration,
    parse_eoj,
    parse_epcs,
    parse_esvs,
    risk_text,
)

from ..aio import Controller, Endpoints, run
from ..errors import EchonetError
from ..frame import EOJ
from ..node import NodeConfig
from .common import Handler

__all__ = ["main", "register"]

_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
}


class _Parser(argparse.ArgumentParser):
    """Reports bad arguments as one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fail(message: str) -> int:
    print(f"echonet secure: error: {message}", file=sys.stderr)
    return 1


def _guarded(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (SecureError, OSError, ValueError) as exc:
            text = str(exc) or type(exc).__name__
            return _fail(" ".join(text.split()))
        except KeyboardInterrupt:
            return _fail("interrupted")

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="seconds")


def _show_fingerprint(fingerprint: bytes, indent: str = "  ") -> None:
    print(f"{indent}SHA-256 {credentials.format_fingerprint(fingerprint, 'groups')}")
    print(f"{indent}        {credentials.format_fingerprint(fingerprint, 'colon')}")


def _audit_log(node: Path) -> audit.AuditLog:
    return audit.AuditLog(store.NodePaths.at(node).audit)


# ------------------------------------------------------------------------------------------------ handlers


def _init_ca(args: argparse.Namespace) -> int:
    maker = credentials.parse_maker_code(args.maker)
    paths = credentials.init_ca_directory(
        args.directory,
        organization=args.org,
        maker_code=maker,
        now=time.time(),
        root_days=args.root_days,
        ca_days=args.ca_days,
    )
    print(f"manufacturer code {maker.hex().upper()}, CA directory {paths.directory}")
    print(f"root CA      {paths.root_cert}")
    _show_fingerprint(credentials.spki_sha256(credentials.load_certificate(paths.root_cert)))
    print(f"device CA    {paths.ca_cert}")
    _show_fingerprint(credentials.spki_sha256(credentials.load_certificate(paths.ca_cert)))
    print(f"keep {paths.root_key.name} offline; {paths.ca_key.name} issues certificates and revocation lists")
    return 0


def _issue(args: argparse.Namespace) -> int:
    identity = credentials.EchonetIdentity.from_hex(args.id, args.maker)
    ca_key, ca_cert, root_cert = credentials.load_ca(args.ca)
    node = store.NodePaths.at(args.out)
    store.ensure_private_dir(node.directory)
    if node.key.exists():
        key = credentials.load_private_key(node.key)
        print(f"reusing the existing key {node.key}")
    else:
        key = credentials.generate_private_key()
        credentials.save_private_key(node.key, key)
    role = credentials.Role(args.role)
    cert = credentials.issue_certificate(
        ca_key=ca_key,
        ca_cert=ca_cert,
        public_key=key.public_key(),
        identity=identity,
        role=role,
        now=time.time(),
        days=args.days,
    )
    credentials.save_certificates(node.cert, cert)
    credentials.save_certificates(node.chain, ca_cert)
    credentials.save_certificates(node.trust, root_cert)
    print(f"issued {role.value} certificate {node.cert} (serial {cert.serial_number:x})")
    print(f"  identification number (0x83) {identity.id_number.hex().upper()}")
    print(f"  manufacturer code (0x8A)     {identity.maker_code.hex().upper()}")
    print(f"  valid until {_when(cert.not_valid_after_utc.timestamp())}")
    _show_fingerprint(credentials.spki_sha256(cert))
    return 0


def _fingerprint_of(path: Path) -> tuple[bytes, x509.Certificate | None]:
    data = store.read_file(path)
    if b"PRIVATE KEY" in data:
        return credentials.spki_sha256(credentials.load_private_key(path).public_key()), None
    if b"PUBLIC KEY" in data:
        try:
            public = serialization.load_pem_public_key(data)
        except ValueError:
            raise SecureUsageError(f"{path}: not a PEM public key") from None
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise SecureUsageError(f"{path}: not an elliptic-curve public key")
        return credentials.spki_sha256(public), None
    cert = credentials.load_certificate(path)
    return credentials.spki_sha256(cert), cert


def _fingerprint(args: argparse.Namespace) -> int:
    fingerprint, cert = _fingerprint_of(Path(args.file))
    print(f"{args.file}")
    _show_fingerprint(fingerprint)
    if cert is not None:
        try:
            identity = credentials.bound_identity(cert)
        except credentials.CertificateError:
            print("  (no ECHONET identity bound)")
        else:
            role = credentials.bound_role(cert)
            print(f"  identification number (0x83) {identity.id_number.hex().upper()}")
            print(f"  manufacturer code (0x8A)     {identity.maker_code.hex().upper()}")
            print(f"  role {role.value if role else 'unspecified'}, serial {cert.serial_number:x}")
    return 0


def _node_allowlist(node: Path, log: audit.AuditLog) -> AllowList:
    paths = store.NodePaths.at(node)
    allow = AllowList(paths.allowlist, audit=log)
    if paths.crl.exists():
        issuers: list[x509.Certificate] = []
        for source in (paths.chain, paths.trust):
            if source.exists():
                issuers.extend(credentials.load_certificates(source))
        allow.use_crl_file(paths.crl, issuers)
    return allow


def _enrol(args: argparse.Namespace) -> int:
    node = Path(args.node)
    if not node.is_dir():
        raise SecureUsageError(f"node directory {node} does not exist")
    with _audit_log(node) as log:
        allow = _node_allowlist(node, log)
        now = time.time()
        if args.cert:
            cert = credentials.load_certificate(args.cert)
            fingerprint = credentials.spki_sha256(cert)
            known = allow.lookup(fingerprint) is not None
            entry = allow.enrol_certificate(cert, now=now, label=args.label)
        else:
            fingerprint = credentials.parse_fingerprint(args.fingerprint)
            known = allow.lookup(fingerprint) is not None
            entry = allow.enrol_fingerprint(fingerprint, now=now, label=args.label)
    print(f"{'already enrolled' if known else 'enrolled'} in {allow.path}:")
    _show_fingerprint(entry.fingerprint)
    if entry.id_number is not None:
        print(f"  identification number (0x83) {entry.id_number.hex().upper()}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    node = Path(args.node)
    if not node.is_dir():
        raise SecureUsageError(f"node directory {node} does not exist")
    if args.cert:
        fingerprint = credentials.spki_sha256(credentials.load_certificate(args.cert))
    else:
        fingerprint = credentials.parse_fingerprint(args.fingerprint)
    with _audit_log(node) as log:
        allow = AllowList(store.NodePaths.at(node).allowlist, audit=log)
        allow.remove(fingerprint, now=time.time())
    print(f"removed from {allow.path} (effective at once):")
    _show_fingerprint(fingerprint)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    cert = credentials.load_certificate(args.cert)
    entry = credentials.revoke_certificate(args.ca, cert, now=time.time(), reason=_REASONS[args.reason])
    print(f"revoked serial {entry.serial:x} ({args.reason}); publish with: echonet secure crl --ca {args.ca}")
    return 0


def _crl(args: argparse.Namespace) -> int:
    valid_for = parse_duration(args.valid_for)
    crl = credentials.publish_crl(args.ca, now=time.time(), valid_for=valid_for)
    paths = credentials.CaPaths(Path(args.ca))
    targets = [paths.crl]
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            out = store.NodePaths.at(out).crl
        credentials.save_crl(out, crl)
        targets.append(out)
    count = sum(1 for _ in crl)
    next_update = crl.next_update_utc
    assert next_update is not None
    print(f"revocation list with {count} revoked certificate(s), next update {next_update.isoformat()}")
    for target in targets:
        print(f"  written to {target}")
    return 0


def _policy_store(node: Path, log: audit.AuditLog | None) -> PolicyStore:
    if not node.is_dir():
        raise SecureUsageError(f"node directory {node} does not exist")
    return PolicyStore(store.NodePaths.at(node).policy, audit=log)


def _who(value: str | None) -> str:
    if value:
        return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise SecureUsageError("cannot tell who you are; pass --who") from None


def _confirm(prompt: str) -> bool:
    try:
        answer = input(prompt)
    except EOFError:
        print()
        return False
    return answer.strip().lower() == "yes"


def _consent_grant(args: argparse.Namespace) -> int:
    if args.esv is None and args.epc is None:
        raise SecureUsageError("narrow the consent with --esv and/or --epc")
    scope = ConsentScope(
        peer=args.peer,
        eoj=parse_eoj(args.eoj),
        esvs=SET_ESVS if args.esv is None else parse_esvs(args.esv),
        epcs=None if args.epc is None else parse_epcs(args.epc),
        direction=Direction.INCOMING if args.incoming else Direction.OUTGOING,
    )
    duration = parse_duration(args.duration)
    version = describe_version(args.version if args.version is not None else _read_version(args))
    who = _who(args.who)
    if not args.why.strip():
        raise SecureUsageError("--why must say why the consent is needed")
    node = Path(args.node)
    policy = _policy_store(node, None)
    peer = policy.current().peer(scope.peer)
    if peer is not None and peer.kind is PeerKind.SECURE:
        raise SecureUsageError(f"{scope.peer} is enrolled as secure; plain ECHONET Lite is never allowed to it")
    longest = policy.current().max_consent_seconds
    if duration > longest:
        raise SecureUsageError(f"consent may last at most {longest / 86400:g} days; grant again later")
    print(risk_text(scope.peer, version, scope=scope, duration=duration))
    print(f"Recorded as granted by {who}: {args.why.strip()}")
    if not args.yes and not _confirm("Type 'yes' to grant this consent: "):
        return _fail("consent not granted")
    with _audit_log(node) as log:
        grant = _policy_store(node, log).grant(
            scope, now=time.time(), duration=duration, who=who, why=args.why, version=version
        )
    print(f"granted consent {grant.id}, expires {_when(grant.expires_at)}")
    return 0


def _read_version(args: argparse.Namespace) -> bytes:
    """The device's protocol version, read from its node profile 0x82 with a plain Get (reading a legacy device is
    allowed without consent), so that the user sees what the device itself says before granting anything."""

    async def read() -> bytes:
        endpoints = Endpoints(bind_v4=args.bind, port=0, join_multicast=False)
        async with await Controller.open(endpoints, config=NodeConfig(timeout=args.timeout)) as ctl:
            got = await ctl.get((args.peer, args.port), EOJ(0x0E, 0xF0, 0x01), [0x82])
            return got.values.get(0x82, b"")

    print(f"reading the protocol version (node profile 0x82) of {args.peer} ...", flush=True)
    try:
        raw = run(read())
    except (EchonetError, OSError) as exc:
        message = f"cannot read node profile 0x82 of {args.peer} ({exc}); give --version as shown"
        raise SecureUsageError(message) from None
    if len(raw) != 4:
        raise SecureUsageError(f"{args.peer} did not give a usable node profile 0x82; give --version as shown")
    return raw


def _consent_revoke(args: argparse.Namespace) -> int:
    node = Path(args.node)
    with _audit_log(node) as log:
        grant = _policy_store(node, log).revoke(args.consent_id, now=time.time(), who=_who(args.who), why=args.why)
    print(f"revoked consent {grant.id} ({grant.scope.describe()}); effective at once")
    return 0


def _describe_grant(grant: ConsentGrant, now: float) -> list[str]:
    state = grant.state(now)
    if state == "active":
        state = f"active, {int(grant.expires_at - now)} s left"
    lines = [
        f"{grant.id}  {state}",
        f"  scope    {grant.scope.describe()}",
        f"  granted  {_when(grant.granted_at)} by {grant.granted_by}: {grant.why}",
        f"  expires  {_when(grant.expires_at)}",
        f"  device   {grant.device_version}",
    ]
    if grant.revoked_at is not None:
        lines.append(f"  revoked  {_when(grant.revoked_at)} by {grant.revoked_by}: {grant.revoke_reason or ''}")
    return lines


def _consent_list(args: argparse.Namespace) -> int:
    now = time.time()
    policy = _policy_store(Path(args.node), None).current()
    grants = policy.grants(now=now, active_only=not args.all)
    if not grants:
        print("no active consent grants" if not args.all else "no consent grants")
    for grant in grants:
        for line in _describe_grant(grant, now):
            print(line)
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    result = audit.verify(args.file)
    if not result.ok:
        where = f"{args.file}:{result.first_bad_line}" if result.first_bad_line else str(args.file)
        return _fail(f"{where}: {result.reason}")
    print(f"{args.file}: ok, {result.records} record(s), head {result.head}")
    if result.unanchored:
        print("  last record beyond the anchor (crash between append and anchor); the next append fixes it")
    return 0


# ------------------------------------------------------------------------------------------------ parsers


def _add(commands: Any, name: str, handler: Handler, text: str) -> _Parser:
    """A sub-command of ``commands`` (the sub-parsers of ``secure`` or of one of its groups) running ``handler``."""
    parser: _Parser = commands.add_parser(name, help=text, description=text)
    guarded = _guarded(handler)
    parser.set_defaults(func=guarded, handler=guarded)
    return parser


def register(subparsers: Any) -> None:
    """Add the ``secure`` command (with its sub-commands) to the main CLI's sub-parsers."""
    secure = subparsers.add_parser(
        "secure",
        help="secure overlay: certificates, allow-list, legacy consent, audit",
        description="Secure overlay: certificates, allow-list, legacy consent, audit log.",
    )
    commands = secure.add_subparsers(dest="secure_command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = _add(commands, "init-ca", _init_ca, "create a manufacturer root CA and device CA in a new directory")
    p.add_argument("directory", help="CA directory to create (mode 0o700)")
    p.add_argument("--maker", required=True, help="manufacturer code (EPC 0x8A), 6 hex digits")
    p.add_argument("--org", required=True, help="manufacturer name for the CA subjects")
    p.add_argument("--root-days", type=int, default=20 * 365, help="root validity in days")
    p.add_argument("--ca-days", type=int, default=10 * 365, help="device CA validity in days")

    p = _add(commands, "issue", _issue, "issue a device or controller certificate into a node directory")
    p.add_argument("--ca", required=True, help="CA directory made by init-ca")
    p.add_argument("--role", choices=["device", "controller"], default="device")
    p.add_argument("--id", required=True, help="identification number (EPC 0x83), 34 hex digits, FE...")
    p.add_argument("--maker", help="manufacturer code (EPC 0x8A), 6 hex digits (default: from --id)")
    p.add_argument("--out", required=True, help="node directory (key, certificate, chain, trust anchor)")
    p.add_argument("--days", type=int, default=10 * 365, help="validity in days")

    p = _add(commands, "fingerprint", _fingerprint, "show the SPKI SHA-256 fingerprint of a certificate or key")
    p.add_argument("file", help="certificate (PEM/DER), public key or private key (PEM)")

    for name, handler, text in (
        ("enrol", _enrol, "pin a peer's public key in a node's allow-list"),
        ("remove", _remove, "remove a peer's public key from a node's allow-list (effective at once)"),
    ):
        p = _add(commands, name, handler, text)
        p.add_argument("--node", required=True, help="node directory")
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--cert", help="the peer's certificate file")
        which.add_argument("--fingerprint", help="SPKI SHA-256 fingerprint (hex, any grouping)")
        if name == "enrol":
            p.add_argument("--label", default="", help="a name to remember the peer by")

    p = _add(commands, "revoke", _revoke, "record the revocation of a certificate issued by the device CA")
    p.add_argument("--ca", required=True, help="CA directory")
    p.add_argument("cert", help="certificate to revoke")
    p.add_argument("--reason", choices=sorted(_REASONS), default="unspecified")

    p = _add(commands, "crl", _crl, "publish the device CA's revocation list")
    p.add_argument("--ca", required=True, help="CA directory")
    p.add_argument("--valid-for", default="7d", help="time until the next update (default 7d)")
    p.add_argument("--out", help="also write it here (a file, or a node directory)")

    consent = commands.add_parser(
        "consent", help="consent to control plain ECHONET Lite devices", description="Legacy consent grants."
    )
    actions = consent.add_subparsers(dest="consent_command", required=True, metavar="ACTION")
    p = _add(actions, "grant", _consent_grant, "allow scoped, time-limited writes to a plain ECHONET Lite device")
    p.add_argument("--node", required=True, help="node directory")
    p.add_argument("--peer", required=True, help="IP address of the plain ECHONET Lite device")
    p.add_argument("--eoj", required=True, help="object, 6 hex digits (e.g. 027D01)")
    p.add_argument("--esv", help=f"comma-separated: {', '.join(esv_name(e) for e in sorted(SET_ESVS))}")
    p.add_argument("--epc", help="comma-separated EPCs, e.g. 0xDA,0xEB")
    p.add_argument("--for", dest="duration", required=True, help="how long, e.g. 30m, 2h, 1d")
    p.add_argument(
        "--version",
        help="device protocol version (node profile 0x82) as shown; by default it is read from the device (plain Get)",
    )
    p.add_argument("--port", type=int, default=3610, help="the device's port, to read 0x82 (default 3610)")
    p.add_argument("--bind", default="0.0.0.0", help="local address to read 0x82 from (default any)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per attempt to read 0x82 (default 2)")
    p.add_argument("--why", required=True, help="why the consent is needed (recorded)")
    p.add_argument("--who", help="who grants it (default: the current user)")
    p.add_argument("--incoming", action="store_true", help="let the device write to our object instead")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = _add(actions, "revoke", _consent_revoke, "revoke a consent grant (effective at once)")
    p.add_argument("--node", required=True, help="node directory")
    p.add_argument("consent_id", help="consent id (or a unique prefix of at least 4 characters)")
    p.add_argument("--who", help="who revokes it (default: the current user)")
    p.add_argument("--why", default="", help="why (recorded)")

    p = _add(actions, "list", _consent_list, "list consent grants")
    p.add_argument("--node", required=True, help="node directory")
    p.add_argument("--all", action="store_true", help="include expired and revoked grants")

    audit_parser = commands.add_parser("audit", help="audit log tools", description="Audit log tools.")
    audit_actions = audit_parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = _add(audit_actions, "verify", _audit_verify, "verify the hash chain and anchor of an audit log")
    p.add_argument("file", help="audit log (JSON lines)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``secure ...`` commands stand-alone (``python -m echonet.cli.secure secure init-ca ...``)."""
    parser = _Parser(prog="echonet")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    func: Handler = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
