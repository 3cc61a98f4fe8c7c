"""The check: read the node profile, then each DR-relevant object, judge every requirement, and probe the secure
overlay last."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ...aio import Controller
from ...constants import ECHONET_PORT
from ...errors import EchonetError
from ...frame import EOJ
from ...node.events import Addr
from ...spec.registry import Registry, default_registry
from ..extensions import with_extensions
from .judge import object_report
from .probe import Exchange, probe_overlay
from .reading import ObjectData, read_object, read_profile
from .report import OverlayResult, Report
from .requirements import DR_CLASSES


async def check(
    host: str,
    *,
    controller: Controller,
    port: int = ECHONET_PORT,
    eojs: Sequence[EOJ] | None = None,
    timeout: float | None = None,
    probe_set: bool = False,
    overlay: bool = True,
    overlay_wait: float = 1.0,
    overlay_exchange: Exchange | None = None,
    bind: str | None = None,
    registry: Registry | None = None,
) -> Report:
    """Probe the device at ``host``:``port`` through ``controller`` and judge every DRready requirement.

    ``eojs`` checks these objects instead of the DR-relevant ones of the node profile's instance list (0xD6).
    ``timeout`` is per request attempt (the controller's retries apply). ``probe_set`` adds a SetC writing back the
    value just read for each settable EPC; that is not free of side effects on devices that take any Set of a
    command EPC as a command (the project's simulations start a DR). ``overlay`` offers a secure-overlay handshake
    last (``overlay_exchange`` replaces the UDP exchange, for tests).
    """
    reg = registry if registry is not None else default_registry()
    sim_reg = with_extensions(reg)
    addr: Addr = (host, port)
    problems: list[str] = []
    profile, node = await read_profile(controller, addr, timeout)
    targets: list[EOJ]
    fallback = False
    if eojs:
        targets = list(dict.fromkeys(eojs))
    elif node.instances is not None:
        targets = [e for e in node.instances if e.class_id in DR_CLASSES]
        if not targets:
            listed = ", ".join(str(e) for e in node.instances) or "none"
            problems.append(f"no DRready object (0x026B, 0x02A6, 0x027D) in the instance list (0xD6: {listed})")
    else:
        targets, fallback = [EOJ.of(c, 1) for c in DR_CLASSES], True

    async def read(eoj: EOJ) -> ObjectData:
        try:
            return await read_object(
                controller,
                addr,
                eoj,
                timeout=timeout,
                probe_set=probe_set,
                registry=sim_reg,
                # a node without a node profile is most likely no node at all: one attempt per guess
                first_retries=0 if fallback and not node.answered else None,
            )
        except (EchonetError, OSError) as exc:
            return ObjectData(eoj, problems=[f"{type(exc).__name__}: {exc}"])

    if fallback:
        # no instance list: guess instance 0x01 of each DRready class, all at once, and keep those that answer
        guessed = await asyncio.gather(*(read(eoj) for eoj in targets))
        objects = [o for o in guessed if o.answered]
        if objects:
            found = ", ".join(str(o.eoj) for o in objects)
            problems.append(f"no usable instance list: found {found} by trying instance 0x01 of each DRready class")
        else:
            problems.append("no usable instance list, and no DRready class answered at instance 0x01")
    else:
        objects = [await read(eoj) for eoj in targets]
    reports = tuple(object_report(o, profile, reg, sim_reg) for o in objects)
    if not overlay:
        overlay_result = OverlayResult(None, "not asked")
    else:
        overlay_result = await probe_overlay(addr, wait=overlay_wait, exchange=overlay_exchange, bind=bind)
        if overlay_result.offered and not node.answered:
            problems.append(
                "the device answers the secure overlay but not plain ECHONET Lite requests: its properties can only "
                "be read through a secure session, which needs credentials it trusts (not probed)"
            )
    return Report(host, port, node, reports, overlay_result, probe_set, tuple(problems))


__all__ = ["check"]
