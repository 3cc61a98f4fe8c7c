"""``echonet secure ...``: CA, certificates, allow-list, legacy consent and audit commands.

The main CLI mounts these with :func:`register` and dispatches with ``args.handler(args)`` (also available
as ``args.func``), which returns the exit code: 0 success, 1 failed (a revoked certificate, an edited audit log, a
consent not confirmed), 2 bad usage (bad input, a missing file or directory). Every failure is one line on stderr,
never a traceback. Every sub-command takes ``--json``: its result as one JSON document on stdout (docs/json.md), and
a failure as the error document ``{"error": {...}}`` there too.
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
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from secure import audit, store
from secure.errors import SecureError, SecureUsageError
from secure.policy.consent import ConsentGrant, ConsentScope, risk_text
from secure.policy.roles import RoleTable
from secure.policy.rules import PolicyStore
from secure.policy.values import (
    SET_ESVS,
    Direction,
    PeerKind,
    describe_version,
    esv_name,
    parse_duration,
    parse_epcs,
    parse_esvs,
)
from secure.trust import credentials
from secure.trust.allowlist import AllowList
from secure.trust.certification import (
    Certification,
    Withdrawal,
    certification_extension,
    issue_withdrawals,
    load_withdrawals,
)

from ..aio import Controller, Endpoints, run
from ..errors import EchonetError, EchonetUsageError
from ..frame import EOJ
from ..node import NodeConfig
from ..spec.dataclasses_table import RISK, DataClass
from .args import parse_eoj, parse_ip, peer_port, peer_port_of, positive_int, positive_seconds
from .common import (
    EXIT_FAILED,
    EXIT_USAGE,
    CommandParser,
    Handler,
    UsageExit,
    dump,
    fail,
    hex_text,
    json_to_stdout,
    time_json,
)
from .common import registry as registry_of

__all__ = ["main", "register"]

_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
}
_PREFIX = "echonet secure: error"
_CLASS_NAMES = frozenset(c.value for c in DataClass)


def _bad_class(name: str) -> DataClass:
    raise SecureUsageError(f"unknown data class {name!r} (known: {', '.join(sorted(_CLASS_NAMES))})")


class _Parser(CommandParser):
    """Reports bad arguments as one line on stderr (exit status 2)."""


def _fail(args: argparse.Namespace | None, message: str, code: int = EXIT_FAILED, kind: str | None = None) -> int:
    return fail(args, message, code, kind, prefix=_PREFIX)


def _guarded(handler: Handler) -> Handler:
    """The handler with its failures as one line (and, with ``--json``, an error document): bad input (a
    :class:`SecureUsageError`, a file that cannot be read) exits 2, anything else that went wrong 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (SecureUsageError, EchonetUsageError) as exc:
            return _fail(args, " ".join((str(exc) or type(exc).__name__).split()), EXIT_USAGE, "usage")
        except (SecureError, EchonetError, OSError, ValueError) as exc:
            return _fail(args, " ".join((str(exc) or type(exc).__name__).split()))
        except KeyboardInterrupt:
            return _fail(args, "interrupted", 130, "interrupted")

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="seconds")


def _fingerprint_lines(fingerprint: bytes, indent: str = "  ") -> list[str]:
    return [
        f"{indent}SHA-256 {credentials.format_fingerprint(fingerprint, 'groups')}",
        f"{indent}        {credentials.format_fingerprint(fingerprint, 'colon')}",
    ]


def _output(args: argparse.Namespace, doc: dict[str, Any], lines: Sequence[str]) -> int:
    """The result: the JSON document with ``--json``, else the lines; exit code 0."""
    if json_to_stdout(args):
        dump(doc)
    else:
        for line in lines:
            print(line)
    return 0


def _say(args: argparse.Namespace, text: str) -> None:
    """Text shown while a command runs: on stdout, or on stderr when stdout carries the JSON document."""
    print(text, file=sys.stderr if json_to_stdout(args) else sys.stdout, flush=True)


def _audit_log(node: Path) -> audit.AuditLog:
    paths = store.NodePaths.at(node)
    return audit.AuditLog(paths.audit, key=paths.audit_key)


def _existing_file(path: str | Path, what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise SecureUsageError(f"{what} {file} does not exist" if not file.exists() else f"{what} {file} is no file")
    return file


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
    root = credentials.spki_sha256(credentials.load_certificate(paths.root_cert))
    device_ca = credentials.spki_sha256(credentials.load_certificate(paths.ca_cert))
    doc = {
        "directory": str(paths.directory),
        "manufacturer": hex_text(maker),
        "root_ca": {"certificate": str(paths.root_cert), "fingerprint": hex_text(root), "key": str(paths.root_key)},
        "device_ca": {"certificate": str(paths.ca_cert), "fingerprint": hex_text(device_ca), "key": str(paths.ca_key)},
    }
    lines = [
        f"manufacturer code {maker.hex().upper()}, CA directory {paths.directory}",
        f"root CA      {paths.root_cert}",
        *_fingerprint_lines(root),
        f"device CA    {paths.ca_cert}",
        *_fingerprint_lines(device_ca),
        f"keep {paths.root_key.name} offline; {paths.ca_key.name} issues certificates and revocation lists",
    ]
    return _output(args, doc, lines)


def _issue(args: argparse.Namespace) -> int:
    identity = credentials.EchonetIdentity.from_hex(args.id, args.maker)
    ca_key, ca_cert, root_cert = credentials.load_ca(args.ca)
    node = store.NodePaths.at(args.out)
    store.ensure_private_dir(node.directory)
    reused = node.key.exists()
    if reused:
        key = credentials.load_private_key(node.key)
        _say(args, f"reusing the existing key {node.key}")
    else:
        key = credentials.generate_private_key()
        credentials.save_private_key(node.key, key)
    role = credentials.Role(args.role)
    attribute = None if args.certification is None else _parse_certification(args.certification)
    cert = credentials.issue_certificate(
        ca_key=ca_key,
        ca_cert=ca_cert,
        public_key=key.public_key(),
        identity=identity,
        role=role,
        now=time.time(),
        days=args.days,
        extensions=() if attribute is None else (certification_extension(attribute),),
    )
    credentials.save_certificates(node.cert, cert)
    credentials.save_certificates(node.chain, ca_cert)
    credentials.save_certificates(node.trust, root_cert)
    fingerprint = credentials.spki_sha256(cert)
    until = cert.not_valid_after_utc.timestamp()
    doc = {
        "certificate": str(node.cert),
        "key": str(node.key),
        "key_reused": reused,
        "role": role.value,
        "serial": f"{cert.serial_number:x}",
        "identification": hex_text(identity.id_number),
        "manufacturer": hex_text(identity.maker_code),
        "not_after": time_json(until),
        "fingerprint": hex_text(fingerprint),
        "certification": None if attribute is None else attribute.to_document(),
    }
    lines = [
        f"issued {role.value} certificate {node.cert} (serial {cert.serial_number:x})",
        *([] if attribute is None else [f"  certification {attribute.describe()}"]),
        f"  identification number (0x83) {identity.id_number.hex().upper()}",
        f"  manufacturer code (0x8A)     {identity.maker_code.hex().upper()}",
        f"  valid until {_when(until)}",
        *_fingerprint_lines(fingerprint),
    ]
    return _output(args, doc, lines)


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
    fingerprint, cert = _fingerprint_of(_existing_file(args.file, "file"))
    doc: dict[str, Any] = {
        "file": str(args.file),
        "fingerprint": hex_text(fingerprint),
        "certificate": cert is not None,
    }
    lines = [f"{args.file}", *_fingerprint_lines(fingerprint)]
    if cert is not None:
        doc.update({"identification": None, "manufacturer": None, "role": None, "serial": f"{cert.serial_number:x}"})
        try:
            identity = credentials.bound_identity(cert)
        except credentials.CertificateError:
            lines.append("  (no ECHONET identity bound)")
        else:
            role = credentials.bound_role(cert)
            doc.update(
                {
                    "identification": hex_text(identity.id_number),
                    "manufacturer": hex_text(identity.maker_code),
                    "role": role.value if role else None,
                }
            )
            lines += [
                f"  identification number (0x83) {identity.id_number.hex().upper()}",
                f"  manufacturer code (0x8A)     {identity.maker_code.hex().upper()}",
                f"  role {role.value if role else 'unspecified'}, serial {cert.serial_number:x}",
            ]
    return _output(args, doc, lines)


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
            cert = credentials.load_certificate(_existing_file(args.cert, "certificate"))
            fingerprint = credentials.spki_sha256(cert)
            known = allow.lookup(fingerprint) is not None
            entry = allow.enrol_certificate(cert, now=now, label=args.label)
        else:
            fingerprint = credentials.parse_fingerprint(args.fingerprint)
            known = allow.lookup(fingerprint) is not None
            entry = allow.enrol_fingerprint(fingerprint, now=now, label=args.label)
    doc = {
        "allow_list": str(allow.path),
        "already_enrolled": known,
        "fingerprint": hex_text(entry.fingerprint),
        "identification": hex_text(entry.id_number),
        "label": args.label,
    }
    lines = [f"{'already enrolled' if known else 'enrolled'} in {allow.path}:", *_fingerprint_lines(entry.fingerprint)]
    if entry.id_number is not None:
        lines.append(f"  identification number (0x83) {entry.id_number.hex().upper()}")
    return _output(args, doc, lines)


def _remove(args: argparse.Namespace) -> int:
    node = Path(args.node)
    if not node.is_dir():
        raise SecureUsageError(f"node directory {node} does not exist")
    if args.cert:
        fingerprint = credentials.spki_sha256(credentials.load_certificate(_existing_file(args.cert, "certificate")))
    else:
        fingerprint = credentials.parse_fingerprint(args.fingerprint)
    with _audit_log(node) as log:
        allow = AllowList(store.NodePaths.at(node).allowlist, audit=log)
        allow.remove(fingerprint, now=time.time())
    doc = {"allow_list": str(allow.path), "removed": True, "fingerprint": hex_text(fingerprint)}
    lines = [f"removed from {allow.path} (effective at once):", *_fingerprint_lines(fingerprint)]
    return _output(args, doc, lines)


def _revoke(args: argparse.Namespace) -> int:
    cert = credentials.load_certificate(_existing_file(args.cert, "certificate"))
    entry = credentials.revoke_certificate(args.ca, cert, now=time.time(), reason=_REASONS[args.reason])
    doc = {"serial": f"{entry.serial:x}", "reason": args.reason, "ca": str(args.ca)}
    lines = [f"revoked serial {entry.serial:x} ({args.reason}); publish with: echonet secure crl --ca {args.ca}"]
    return _output(args, doc, lines)


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
    doc = {
        "revoked_certificates": count,
        "next_update": time_json(next_update.timestamp()),
        "written": [str(t) for t in targets],
    }
    lines = [f"revocation list with {count} revoked certificate(s), next update {next_update.isoformat()}"]
    lines += [f"  written to {target}" for target in targets]
    return _output(args, doc, lines)


def _parse_certification(text: str) -> Certification:
    parts = text.split(":")
    if len(parts) != 4:
        raise SecureUsageError(
            "--certification is PROGRAMME:LEVEL:IDENTIFIER:YYYY-MM-DD, e.g. JC-STAR:1:JCS-0042:2026-04-01"
        )
    return Certification(*(p.strip() for p in parts))


def _pair(args: argparse.Namespace) -> int:
    from secure.layer.aio import pair_device
    from secure.trust.onboarding import SetupCode

    from .secure_support import load_node_security, pairing_side

    code = SetupCode.parse(args.code)
    host, written_port = parse_ip(args.host, "HOST")
    port = peer_port_of(written_port, args.port, 3610)
    security = load_node_security(args.node, "controller")
    try:
        controller = pairing_side(security, code, "controller")
        bind = parse_ip(args.bind, "--bind")[0] if args.bind else ("::" if ":" in host else "0.0.0.0")
        result = run(pair_device((host, port), controller, bind=bind, timeout=args.timeout))
    finally:
        security.close()
    fingerprint = credentials.spki_sha256(result.certificate)
    doc = {
        "paired": host,
        "identification": hex_text(result.identity.id_number),
        "manufacturer": hex_text(result.identity.maker_code),
        "fingerprint": hex_text(fingerprint),
    }
    lines = [
        f"paired with {host}: identification number (0x83) {result.identity.id_number.hex().upper()}",
        "  both certificates validated and pinned; run requests with --secure --identity " + str(args.node),
        *_fingerprint_lines(fingerprint),
    ]
    return _output(args, doc, lines)


def _group(args: argparse.Namespace) -> int:
    """Show the group a controller manages; ``--remove`` / ``--rotate`` make a new epoch and hand it to every
    remaining member over its pairwise session (the addresses the policy remembers for them)."""
    from secure.records.groupstore import GroupStore

    from .secure_support import load_node_security

    group_store = GroupStore(store.NodePaths.at(args.node).group)
    reached: dict[str, str] = {}
    if args.remove or args.rotate:
        security = load_node_security(args.node, "controller")
        try:
            reached = run(_group_change(args, security, group_store))
        finally:
            security.close()
    state = group_store.load()
    if state is None or state.role != "manager":
        raise SecureUsageError(f"{args.node} manages no group yet (a secured request to a device makes it)")
    epochs = sorted(e.number for e in state.update.epochs)
    members = sorted(m.identity for m in state.update.members if m.identity != "group-manager")
    doc = {"epochs": epochs, "members": members, "reasons": state.reasons, "reached": reached}
    lines = [f"group epochs {', '.join(map(str, epochs))} (newest sends), {len(members)} member(s)"]
    lines += [f"  member {m}: {reached.get(m, 'key held')}" for m in members]
    lines += [f"  epoch reason: {r}" for r in state.reasons[-3:]]
    return _output(args, doc, lines)


async def _group_change(args: argparse.Namespace, security: Any, group_store: Any) -> dict[str, str]:
    from secure.layer.aio import open_secure_controller

    bind = parse_ip(args.bind, "--bind")[0] if args.bind else "0.0.0.0"
    ctl = await open_secure_controller(
        Endpoints(bind_v4=bind, port=0, join_multicast=False),
        security.config,
        node_config=NodeConfig(timeout=args.timeout, retries=1),
        policy=security.policy,
        audit=security.audit,
    )
    reached: dict[str, str] = {}
    try:
        layer = ctl.layer
        now = ctl.runner.loop.time()
        layer.use_group_store(group_store, now, manage=True)
        for identity in args.remove or ():
            layer.group_remove(identity.lower(), now)
            reached[identity.lower()] = "removed (gets no new key)"
        if args.rotate:
            layer.group_rotate("operator", now)
        manager = layer.group_manager
        assert manager is not None  # (use_group_store with manage=True made it)
        for member in list(manager.members.values()):
            if member.identity == "group-manager":
                continue
            peers = layer.policy.peers_of(member.identity)
            reached[member.identity] = "not reached (no known address; it gets the key with its next session)"
            for peer in peers:
                try:
                    await ctl.get(peer.address, EOJ(0x0E, 0xF0, 0x01), [0x83])
                except (EchonetError, SecureError) as exc:
                    reached[member.identity] = f"not reached at {peer.address} ({exc})"
                    continue
                reached[member.identity] = f"new key sent to {peer.address}"
                break
    finally:
        await ctl.close()
    return reached


def _withdraw(args: argparse.Namespace) -> int:
    ca_key, ca_cert, root_cert = credentials.load_ca(args.ca)
    path = Path(args.ca) / "withdrawn.json"
    entries: list[Withdrawal] = []
    number = 0
    if path.exists():
        current = load_withdrawals(store.read_file(path), [ca_cert, root_cert])
        entries, number = list(current.entries), current.number
    if any(e.identifier == args.certification for e in entries):
        raise SecureUsageError(f"certification {args.certification} is already withdrawn")
    now = time.time()
    entries.append(Withdrawal(args.certification, time.strftime("%Y-%m-%d", time.gmtime(now)), args.reason))
    data = issue_withdrawals(ca_key=ca_key, ca_cert=ca_cert, entries=entries, number=number + 1, now=now)
    targets = [path]
    store.atomic_write(path, data)
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            out = store.NodePaths.at(out).withdrawals
        store.atomic_write(out, data)
        targets.append(out)
    doc = {"withdrawn": [e.identifier for e in entries], "number": number + 1, "written": [str(t) for t in targets]}
    lines = [f"certification {args.certification} withdrawn (list number {number + 1}, {len(entries)} in all)"]
    lines += [f"  written to {target}" for target in targets]
    return _output(args, doc, lines)


def _require_certification(args: argparse.Namespace) -> int:
    node = store.NodePaths.at(args.node)
    if not node.directory.is_dir():
        raise SecureUsageError(f"node directory {node.directory} does not exist")
    if args.off:
        store.write_json(node.certification, {"require": None})
        return _output(args, {"require": None}, ["peers' certification is shown, not required"])
    if not args.programme or not args.level:
        raise SecureUsageError("give --programme and --level (or --off)")
    store.write_json(node.certification, {"require": [args.programme, args.level]})
    doc = {"require": [args.programme, args.level]}
    return _output(args, doc, [f"peers must carry {args.programme} level {args.level} or above (not withdrawn)"])


def _roles(args: argparse.Namespace) -> int:
    node = store.NodePaths.at(args.node)
    if not node.directory.is_dir():
        raise SecureUsageError(f"node directory {node.directory} does not exist")
    table = RoleTable.load(node.roles)
    changed = False
    for item in args.assign or ():
        identity, sep, role = item.partition("=")
        if not sep or not identity.strip():
            raise SecureUsageError("--assign is IDENTITY=ROLE (IDENTITY: 0x83 in hex, or fp:16 hex digits)")
        table.assign(identity.strip(), role.strip())
        changed = True
    if args.default:
        table = RoleTable(table.peers, default=args.default, roles=table.roles)
        changed = True
    if changed:
        table.save(node.roles)
    doc = table.to_document()
    lines = [f"default role: {table.default}"]
    lines += [f"  {identity}: {role}" for identity, role in sorted(table.peers.items())]
    for name, role in sorted(table.roles.items()):
        writes = "everything" if role.write is None else f"{sum(len(v) for v in role.write.values())} EPC(s)"
        lines.append(f"role {name}: reads {', '.join(sorted(c.value for c in role.read))}; writes {writes}")
    return _output(args, doc, lines)


def _privacy(args: argparse.Namespace) -> int:
    node = Path(args.node)
    with _audit_log(node) as log:
        policy = _policy_store(node, log)
        if args.off:
            protected = policy.set_protected_reads(())
        elif args.protect:
            protected = policy.set_protected_reads(p.strip() for p in args.protect.split(",") if p.strip())
        else:
            protected = policy.current().protected_reads
    names = sorted(c.value for c in protected)
    doc = {"protected_reads": names, "risks": {c.value: RISK[c] for c in DataClass}}
    lines = [
        "reads of legacy devices that need a consent: " + (", ".join(names) if names else "none"),
        *(f"  {c.value}: {RISK[c]}" for c in DataClass),
    ]
    return _output(args, doc, lines)


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


def _confirm(args: argparse.Namespace, prompt: str) -> bool:
    """Ask on the terminal (the prompt on stderr when stdout carries JSON); end of input is a no."""
    out = sys.stderr if json_to_stdout(args) else sys.stdout
    out.write(prompt)
    out.flush()
    answer = sys.stdin.readline()
    if not answer:
        print(file=out)
        return False
    return answer.strip().lower() == "yes"


def _grant_json(grant: ConsentGrant, now: float) -> dict[str, Any]:
    scope = grant.scope
    return {
        "id": grant.id,
        "state": grant.state(now),
        "scope": {
            "peer": scope.peer,
            "eoj": scope.eoj.hex().upper(),
            "esvs": [esv_name(e) for e in sorted(scope.esvs)],
            "epcs": None if scope.epcs is None else [f"0x{e:02X}" for e in sorted(scope.epcs)],
            "direction": str(scope.direction.value),
            "text": scope.describe(),
        },
        "granted_at": time_json(grant.granted_at),
        "granted_by": grant.granted_by,
        "why": grant.why,
        "expires_at": time_json(grant.expires_at),
        "seconds_left": max(0, int(grant.expires_at - now)) if grant.state(now) == "active" else 0,
        "device_version": grant.device_version,
        "revoked_at": None if grant.revoked_at is None else time_json(grant.revoked_at),
        "revoked_by": grant.revoked_by,
        "revoke_reason": grant.revoke_reason,
    }


def _consent_grant(args: argparse.Namespace) -> int:
    if args.esv is None and args.epc is None:
        raise SecureUsageError("narrow the consent with --esv and/or --epc")
    peer, written_port = parse_ip(args.peer, "--peer")
    args.peer, args.port = peer, peer_port_of(written_port, args.port, 3610)
    classes = None if args.data_class is None else frozenset(c.strip() for c in args.data_class.split(","))
    reads = classes is not None or args.epc is not None
    scope = ConsentScope(
        peer=peer,
        eoj=bytes(parse_eoj(args.eoj, registry_of(args))),
        esvs=SET_ESVS if args.esv is None else parse_esvs(args.esv, reads=reads),
        epcs=None if args.epc is None else parse_epcs(args.epc),
        direction=Direction.INCOMING if args.incoming else Direction.OUTGOING,
        classes=None
        if classes is None
        else frozenset(DataClass(c) if c in _CLASS_NAMES else _bad_class(c) for c in classes),
    )
    duration = parse_duration(args.duration)
    if not args.why.strip():
        raise SecureUsageError("--why must say why the consent is needed")
    who = _who(args.who)
    node = Path(args.node)
    policy = _policy_store(node, None)
    peer_entry = policy.current().peer(scope.peer)
    if peer_entry is not None and peer_entry.kind is PeerKind.SECURE:
        raise SecureUsageError(f"{scope.peer} is enrolled as secure; plain ECHONET Lite is never allowed to it")
    longest = policy.current().max_consent_seconds
    if duration > longest:
        raise SecureUsageError(f"consent may last at most {longest / 86400:g} days; grant again later")
    version = describe_version(args.version if args.version is not None else _read_version(args))
    _say(args, risk_text(scope.peer, version, scope=scope, duration=duration))
    _say(args, f"Recorded as granted by {who}: {args.why.strip()}")
    if not args.yes and not _confirm(args, "Type 'yes' to grant this consent: "):
        return _fail(args, "consent not granted", EXIT_FAILED, "declined")
    with _audit_log(node) as log:
        grant = _policy_store(node, log).grant(
            scope, now=time.time(), duration=duration, who=who, why=args.why, version=version
        )
    doc = {"consent": _grant_json(grant, time.time())}
    return _output(args, doc, [f"granted consent {grant.id}, expires {_when(grant.expires_at)}"])


def _read_version(args: argparse.Namespace) -> bytes:
    """The device's protocol version, read from its node profile 0x82 with a plain Get (reading a legacy device is
    allowed without consent), so that the user sees what the device itself says before granting anything."""
    bind = parse_ip(args.bind, "--bind")[0] if args.bind else None
    v6 = ":" in args.peer

    async def read() -> bytes:
        endpoints = Endpoints(
            bind_v4=None if v6 else (bind or "0.0.0.0"),
            bind_v6=(bind or "::") if v6 else None,
            port=0,
            join_multicast=False,
        )
        async with await Controller.open(endpoints, config=NodeConfig(timeout=args.timeout)) as ctl:
            got = await ctl.get((args.peer, args.port), EOJ(0x0E, 0xF0, 0x01), [0x82])
            return got.values.get(0x82, b"")

    _say(args, f"reading the protocol version (node profile 0x82) of {args.peer} ...")
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
    doc = {"consent": _grant_json(grant, time.time())}
    return _output(args, doc, [f"revoked consent {grant.id} ({grant.scope.describe()}); effective at once"])


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
    lines = [] if grants else ["no active consent grants" if not args.all else "no consent grants"]
    for grant in grants:
        lines += _describe_grant(grant, now)
    return _output(args, {"grants": [_grant_json(g, now) for g in grants]}, lines)


def _audit_verify(args: argparse.Namespace) -> int:
    log = Path(args.file)
    key_file = Path(args.key) if args.key else log.parent / "audit.key"
    if args.key:
        _existing_file(key_file, "audit key")
    key = audit.AuditKey.load(key_file) if key_file.is_file() else None
    if key is None or not key.has_keyed(log):
        _existing_file(log, "audit log")
    result = audit.verify(log, key)
    if result.ok and result.keyed and not result.authenticated:
        raise SecureUsageError(f"{log} is keyed: give the node's audit key (--key DIR/audit.key) to check its MACs")
    doc: dict[str, Any] = {
        "file": str(args.file),
        "ok": result.ok,
        "records": result.records,
        "head": result.head,
        "unanchored": result.unanchored,
        "first_bad_line": result.first_bad_line,
        "authenticated": result.authenticated and result.keyed,
        "unkeyed_prefix": result.unkeyed_prefix,
    }
    if not result.ok:
        bad_file = result.file or str(args.file)
        where = f"{bad_file}:{result.first_bad_line}" if result.first_bad_line else bad_file
        message = f"{where}: {result.reason}"
        if json_to_stdout(args):
            dump({**doc, "error": {"code": EXIT_FAILED, "kind": "failed", "message": message}})
        return _fail(None, message)
    lines = [f"{args.file}: ok, {result.records} record(s), head {result.head}"]
    if result.files > 1:
        lines.append(f"  the chain runs on from {result.files - 1} rotated file(s) ({log.name}.1, ...)")
    if result.keyed:
        lines.append(
            f"  MACs verified with {key_file}"
            + (f"; the first {result.unkeyed_prefix} record(s) predate the key" if result.unkeyed_prefix else "")
        )
    elif result.records:
        lines.append("  not keyed: anyone who can write the file could have rewritten it consistently")
    if result.unanchored:
        lines.append("  last record beyond the anchor (crash between append and anchor); the next append fixes it")
    return _output(args, doc, lines)


def _audit_rotate(args: argparse.Namespace) -> int:
    log = _existing_file(args.file, "audit log")
    key_file = Path(args.key) if args.key else log.parent / "audit.key"
    if args.key:
        _existing_file(key_file, "audit key")
    with audit.AuditLog(log, key=key_file if key_file.is_file() else None) as writer:
        target = writer.rotate()
    doc = {"file": str(log), "rotated_to": None if target is None else str(target)}
    if target is None:
        return _output(args, doc, [f"{log}: nothing to rotate"])
    return _output(args, doc, [f"rotated {log} to {target}; {log} goes on with the chain (audit verify checks both)"])


# ------------------------------------------------------------------------------------------------ parsers


def _add(commands: Any, name: str, handler: Handler, text: str) -> _Parser:
    """A sub-command of ``commands`` (the sub-parsers of ``secure`` or of one of its groups) running ``handler``."""
    parser: _Parser = commands.add_parser(name, help=text, description=text)
    guarded = _guarded(handler)
    parser.set_defaults(func=guarded, handler=guarded)
    parser.add_argument("--json", action="store_true", help="the result as one JSON document (docs/json.md)")
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
    p.add_argument("--root-days", type=positive_int, default=20 * 365, help="root validity in days")
    p.add_argument("--ca-days", type=positive_int, default=10 * 365, help="device CA validity in days")

    p = _add(commands, "issue", _issue, "issue a device or controller certificate into a node directory")
    p.add_argument("--ca", required=True, help="CA directory made by init-ca")
    p.add_argument("--role", choices=["device", "controller"], default="device")
    p.add_argument("--id", required=True, help="identification number (EPC 0x83), 34 hex digits, FE...")
    p.add_argument("--maker", help="manufacturer code (EPC 0x8A), 6 hex digits (default: from --id)")
    p.add_argument("--out", required=True, help="node directory (key, certificate, chain, trust anchor)")
    p.add_argument("--days", type=positive_int, default=10 * 365, help="validity in days")
    p.add_argument(
        "--certification",
        help="certification attribute PROGRAMME:LEVEL:IDENTIFIER:YYYY-MM-DD (e.g. JC-STAR:1:JCS-0042:2026-04-01)",
    )

    p = _add(commands, "pair", _pair, "enrol a device in setup mode with its setup code (SPAKE2+, then certificates)")
    p.add_argument("host", help="the device's IP address (192.0.2.5, [::1], [::1]:3610)")
    p.add_argument("--code", required=True, help="the setup code: DDDD-PPPP-PPPP-C or the QR payload ELDA1:...")
    p.add_argument("--node", required=True, help="this controller's identity directory")
    p.add_argument("--port", type=peer_port, help="the device's port (default 3610)")
    p.add_argument("--bind", help="local address to pair from (default any)")
    p.add_argument("--timeout", type=positive_seconds, default=2.0, help="seconds per attempt (default 2)")

    p = _add(commands, "group", _group, "show the group key a controller manages; remove a member or rotate the key")
    p.add_argument("--node", required=True, help="the controller's identity directory")
    p.add_argument("--remove", action="append", metavar="IDENTITY", help="drop a member (0x83 in hex) and rotate")
    p.add_argument("--rotate", action="store_true", help="make a new epoch now")
    p.add_argument("--bind", help="local address for handing out the new key (default: the wildcard)")
    p.add_argument("--timeout", type=positive_seconds, default=3.0, metavar="S", help="per member (default 3)")
    p = _add(commands, "withdraw", _withdraw, "publish the withdrawal of a certification (like a revocation)")
    p.add_argument("--ca", required=True, help="CA directory")
    p.add_argument("--certification", required=True, help="the certification identifier to withdraw")
    p.add_argument("--reason", default="", help="why (published)")
    p.add_argument("--out", help="also write the list here (a file, or a node directory)")

    p = _add(commands, "require-certification", _require_certification, "demand a certification of every peer")
    p.add_argument("--node", required=True, help="node directory")
    p.add_argument("--programme", help="certification programme, e.g. JC-STAR")
    p.add_argument("--level", help="minimum level, e.g. 1")
    p.add_argument("--off", action="store_true", help="show peers' certification without requiring it")

    p = _add(commands, "roles", _roles, "show or set what each enrolled peer may do (hems, aggregator, installer, ...)")
    p.add_argument("--node", required=True, help="node directory")
    p.add_argument("--assign", action="append", metavar="IDENTITY=ROLE", help="give a peer a role (repeatable)")
    p.add_argument("--default", help="role of peers not listed (default installer)")

    p = _add(commands, "privacy", _privacy, "show or set which data classes of legacy devices need a consent to read")
    p.add_argument("--node", required=True, help="node directory")
    p.add_argument("--protect", help="comma-separated data classes: control, identity, operating, usage")
    p.add_argument("--off", action="store_true", help="reads of legacy devices need no consent")

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
    p.add_argument(
        "--peer", required=True, help="IP address of the plain ECHONET Lite device (192.0.2.5, [::1], [::1]:3610)"
    )
    p.add_argument(
        "--eoj",
        required=True,
        help="the object: 027D01, 0x027D01, 02-7D-01 or CLASS:INSTANCE (storage_battery:1), as for echonet get",
    )
    p.add_argument("--esv", help=f"comma-separated: {', '.join(esv_name(e) for e in sorted(SET_ESVS))}")
    p.add_argument("--epc", help="comma-separated EPCs, e.g. 0xDA,0xEB")
    p.add_argument(
        "--class",
        dest="data_class",
        help="data classes covered (control, identity, operating, usage); with --esv Get a consent to read them",
    )
    p.add_argument("--for", dest="duration", required=True, help="how long, e.g. 30m, 2h, 1d")
    p.add_argument(
        "--version",
        help="device protocol version (node profile 0x82) as shown; by default it is read from the device (plain Get)",
    )
    p.add_argument("--port", type=peer_port, help="the device's port, to read 0x82 (default 3610)")
    p.add_argument("--bind", help="local address to read 0x82 from (default any)")
    p.add_argument("--timeout", type=positive_seconds, default=2.0, help="seconds per attempt to read 0x82 (default 2)")
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
    p = _add(audit_actions, "verify", _audit_verify, "verify the hash chain, MACs and anchor of an audit log")
    p.add_argument("file", help="audit log (JSON lines)")
    p.add_argument("--key", help="the node's audit key (default: audit.key next to the log)")
    p = _add(audit_actions, "rotate", _audit_rotate, "move an audit log's records to LOG.N; the chain goes on in LOG")
    p.add_argument("file", help="audit log (JSON lines)")
    p.add_argument("--key", help="the node's audit key (default: audit.key next to the log)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``secure ...`` commands stand-alone (``python -m echonet.cli.secure secure init-ca ...``)."""
    parser = _Parser(prog="echonet")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    try:
        args = parser.parse_args(argv)
    except UsageExit:  # the one line is on stderr already
        return EXIT_USAGE
    func: Handler = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
