"""The report as JUnit XML (one test case per check and target) and as one self-contained HTML page.

The HTML page has no script, no external style sheet and no image: a vendor can mail it. It shows the device's
identity (node profile 0x83, each object's 0x8A and 0x82), a summary per object, and every failure and warning with
its clause and the frames behind it; passes are listed in a table at the end.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from .report import Exchange, Report, Result, Verdict


def _evidence_text(evidence: Iterable[Exchange]) -> str:
    lines = []
    for exchange in evidence:
        lines.append(f"# {exchange.label}" + (" (no answer)" if exchange.timed_out else ""))
        for d in exchange.datagrams:
            arrow = f"-> port {d.port}" if d.direction == "sent" else f"<- port {d.port} (to {d.local_port})"
            lines.append(f"{d.direction:<8} {arrow}: {d.data.hex()}")
            lines += [f"    {line}" for line in d.text]
    return "\n".join(lines)


def junit_xml(report: Report) -> str:
    """JUnit XML: a test suite per target (``node`` and each EOJ), a test case per check; fail is a failure, not
    applicable is skipped, warn passes with its reason in ``system-out``."""
    root = ET.Element("testsuites", name=f"echonet conformance {report.host}")
    by_target: dict[str, list[Result]] = {}
    for r in report.results:
        by_target.setdefault(r.target, []).append(r)
    if not report.answered:
        suite = ET.SubElement(root, "testsuite", name=f"{report.host}", tests="1", failures="1", skipped="0")
        case = ET.SubElement(suite, "testcase", classname=report.host, name="discovery")
        ET.SubElement(case, "failure", message="; ".join(report.problems) or "no answer")
    for target, results in by_target.items():
        failures = sum(1 for r in results if r.verdict is Verdict.FAIL)
        skipped = sum(1 for r in results if r.verdict is Verdict.NOT_APPLICABLE)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{report.host} {target}",
            tests=str(len(results)),
            failures=str(failures),
            skipped=str(skipped),
        )
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"{report.host}.{target}", name=f"{r.check.id}")
            text = f"{r.check.title}\nclause: {r.check.clause}\nverdict: {r.verdict.value}: {r.reason}"
            if r.verdict is Verdict.FAIL:
                failure = ET.SubElement(case, "failure", message=r.reason)
                failure.text = f"{text}\n\n{_evidence_text(r.evidence)}"
            elif r.verdict is Verdict.NOT_APPLICABLE:
                ET.SubElement(case, "skipped", message=r.reason)
            else:
                out = ET.SubElement(case, "system-out")
                out.text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:75em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;
vertical-align:top}th{background:#f3f3f3}
.pass{color:#176417}.fail{color:#a31515;font-weight:bold}.warn{color:#8a5a00;font-weight:bold}.na{color:#777}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.5em;overflow-x:auto;font-size:.85em}
code{font-size:.95em}
"""

_CLASS = {Verdict.PASS: "pass", Verdict.FAIL: "fail", Verdict.WARN: "warn", Verdict.NOT_APPLICABLE: "na"}


def _h(text: object) -> str:
    return html.escape(str(text))


def html_report(report: Report) -> str:
    """The report as one self-contained HTML page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ECHONET Lite conformance: {_h(report.host)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>ECHONET Lite conformance of {_h(report.host)} port {report.port}</h1>",
    ]
    counts = report.counts()
    verdict = "no answer" if not report.answered else ("FAILED" if report.failed else "no failure")
    options = ", ".join(report.options) or "read-only"
    parts.append(
        f'<p>Result: <b class="{"fail" if report.failed else "pass"}">{_h(verdict)}</b> &mdash; '
        + ", ".join(f"{n} {_h(v)}" for v, n in counts.items())
        + f". Run: {_h(options)}.</p>"
    )
    for problem in report.problems:
        parts.append(f'<p class="warn">{_h(problem)}</p>')
    for remark in report.notes:
        parts.append(f"<p>Note: {_h(remark)}</p>")
    parts.append(
        "<h2>Identity</h2><table><tr><th>object</th><th>class</th><th>0x82</th><th>0x83</th><th>0x8A</th>"
        "<th>summary</th></tr>"
    )
    for obj in report.objects:
        results = [r for r in report.results if r.target == str(obj.eoj)]
        summary = ", ".join(
            f'<span class="{_CLASS[v]}">{sum(1 for r in results if r.verdict is v)} {_h(v.value)}</span>'
            for v in Verdict
            if any(r.verdict is v for r in results)
        )
        cells = [
            str(obj.eoj),
            obj.class_name,
            obj.version.hex() if obj.version is not None else "-",
            obj.identification.hex() if obj.identification is not None else "-",
            obj.manufacturer.hex() if obj.manufacturer is not None else "-",
        ]
        parts.append("<tr>" + "".join(f"<td><code>{_h(c)}</code></td>" for c in cells) + f"<td>{summary}</td></tr>")
    node_results = [r for r in report.results if r.target == "node"]
    if node_results:
        summary = ", ".join(
            f'<span class="{_CLASS[v]}">{sum(1 for r in node_results if r.verdict is v)} {_h(v.value)}</span>'
            for v in Verdict
            if any(r.verdict is v for r in node_results)
        )
        parts.append(f'<tr><td colspan="5">the node as a whole</td><td>{summary}</td></tr>')
    parts.append("</table>")
    flagged = [r for r in report.results if r.verdict in (Verdict.FAIL, Verdict.WARN)]
    parts.append(f"<h2>Failures and warnings ({len(flagged)})</h2>")
    if not flagged:
        parts.append("<p>None.</p>")
    for r in flagged:
        parts.append(
            f'<h3><span class="{_CLASS[r.verdict]}">{_h(r.verdict.value.upper())}</span> {_h(r.check.id)} '
            f"on {_h(r.target)}: {_h(r.check.title)}</h3>"
            f"<p><b>Clause:</b> {_h(r.check.clause)}<br><b>Found:</b> {_h(r.reason)}</p>"
            f"<pre>{_h(_evidence_text(r.evidence))}</pre>"
        )
    parts.append(
        "<h2>Every check</h2><table><tr><th>target</th><th>check</th><th>verdict</th><th>reason</th>"
        "<th>clause</th></tr>"
    )
    for r in report.results:
        parts.append(
            f"<tr><td><code>{_h(r.target)}</code></td><td>{_h(r.check.id)}</td>"
            f'<td class="{_CLASS[r.verdict]}">{_h(r.verdict.value)}</td><td>{_h(r.reason)}</td>'
            f"<td>{_h(r.check.clause)}</td></tr>"
        )
    parts.append("</table><p>Made by <code>echonet conformance</code> (echonet-da).</p></body></html>")
    return "\n".join(parts) + "\n"


__all__ = ["html_report", "junit_xml"]
