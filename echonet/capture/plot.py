"""The plot of ``echonet decode --pcap FILE --summary --plot FILE.png``: requests and answers per device over time,
and the latency of each answer (matplotlib's Agg canvas, no pyplot; the ``plot`` extra)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import CaptureError, require_extra
from .summary import Conversations

__all__ = ["Timeline", "plot_timeline"]


@dataclass
class Timeline:
    """What the plot shows, collected from a :class:`Conversations` while it reads (bounded: at most
    :attr:`limit` points per device and kind, every n-th kept beyond)."""

    limit: int = 20000
    requests: dict[str, list[float]] = field(default_factory=dict)
    answers: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (time, latency)
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)

    def _keep(self, device: str, kind: str) -> bool:
        n = self._seen.get((device, kind), 0) + 1
        self._seen[(device, kind)] = n
        if n <= self.limit:
            return True
        step = n // self.limit + 1
        return n % step == 0

    def attach(self, conversations: Conversations) -> None:
        """Collect the requests and answers ``conversations`` sees from now on."""
        conversations.on_request = self.request
        conversations.on_answer = self.answer

    def request(self, time: float, device: str, esv: int) -> None:
        if self._keep(device, "request"):
            self.requests.setdefault(device, []).append(time)

    def answer(self, asked: float, time: float, device: str, esv: int) -> None:
        if self._keep(device, "answer"):
            self.answers.setdefault(device, []).append((time, time - asked))


def plot_timeline(timeline: Timeline, path: str | os.PathLike[str], title: str = "") -> None:
    """Write the PNG: above, one row per device with its requests (open marks) and answers (filled); below, the
    latency of every answer in milliseconds, a colour per device. Raises :class:`CaptureError` when the file cannot
    be written and :class:`~echonet.errors.MissingExtraError` without matplotlib."""
    require_extra("matplotlib", "plot", "--plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    devices = sorted(set(timeline.requests) | set(timeline.answers))
    times = [t for ts in timeline.requests.values() for t in ts] + [t for a in timeline.answers.values() for t, _ in a]
    origin = min(times) if times else 0.0
    fig = Figure(figsize=(11, 2.5 + 0.35 * max(len(devices), 1) + 3))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [max(len(devices), 1), 3]})
    colours = [f"C{i % 10}" for i in range(len(devices))]
    for row, (device, colour) in enumerate(zip(devices, colours, strict=True)):
        req = [t - origin for t in timeline.requests.get(device, [])]
        ans = timeline.answers.get(device, [])
        top.scatter(req, [row + 0.15] * len(req), marker="|", s=60, color=colour, alpha=0.6)
        top.scatter([t - origin for t, _ in ans], [row - 0.15] * len(ans), marker=".", s=12, color=colour)
        if ans:
            bottom.scatter([t - origin for t, _ in ans], [lat * 1000 for _, lat in ans], s=6, color=colour,
                           label=device)  # fmt: skip
    top.set_yticks(range(len(devices)), devices)
    top.set_ylim(-0.7, max(len(devices), 1) - 0.3)
    top.set_title(title or "requests (|) and answers (.) per device")
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("seconds since the first datagram")
    if devices:
        bottom.legend(loc="upper right", fontsize="small", markerscale=2)
    fig.tight_layout()
    try:
        fig.savefig(os.fspath(path), format="png", dpi=100)
    except OSError as exc:
        raise CaptureError(f"{os.fspath(path)}: cannot write the plot ({exc.strerror or exc})") from None
