"""The report's text: numbers with units, layer labels, figures with captions, and the HTML of
the report's small markdown subset.

Markdown subset (what the section modules write and :func:`to_html` reads): ``#``/``##``
headings, ``|`` tables, ``- `` lists with ``[text](#anchor)`` links, ``> - `` verdict items
(``**topic: yes|no|partly|note.**`` first), ``**bold**``, ``*italic*``, ```code```, and a
figure as an image line followed by its caption line in italics (:func:`figure`).
"""

from __future__ import annotations

import html
import re

from models.energy import _UNITS as ENERGY_UNITS, format_energy

#: verdict answer -> CSS class of its item in the HTML verdict box
ANSWERS = {"yes": "pass", "no": "fail", "partly": "caution", "note": "info"}

STYLE = """
body{font-family:system-ui,sans-serif;font-size:15px;line-height:1.45;max-width:62em;margin:1.5em auto;padding:0 1em;
 color:#1a1a1a}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;max-width:100%}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top;overflow-wrap:break-word}
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4;font-weight:600}
table td:first-child{white-space:nowrap}
code{font-size:.92em;background:#f4f4f4;padding:0 2px;overflow-wrap:anywhere;word-break:break-word}
p,li,figcaption{overflow-wrap:break-word}
figure{margin:1em 0}figure img{max-width:min(100%,40em);height:auto;display:block}
figcaption{font-size:.92em;color:#333;max-width:40em;margin-top:.3em}
.verdict{border:1px solid #bbb;border-radius:6px;padding:.3em 1em;background:#fafafa}
.verdict ul{padding-left:0;list-style:none}.verdict li{margin:.5em 0;padding-left:.6em;border-left:5px solid #999}
.verdict li.pass{border-color:#2a9d3a}.verdict li.fail{border-color:#c62828}.verdict li.caution{border-color:#e09b00}
.verdict li.info{border-color:#5577aa}
.context td,.context th{text-align:left}
nav ul{margin:.3em 0}
""".replace("\n", "")


def energy(joules: float | None) -> str:
    return "n/a" if joules is None else format_energy(joules)


def energy_unit(values) -> tuple[float, str]:
    """``(scale, unit)`` for an axis of energies in joules: the unit ``format_energy`` gives
    the smallest non-zero magnitude (``1e-12, "pJ"``), so tick labels read 25.7 pJ, not 2.57e-11 J."""
    smallest = min((abs(v) for v in values if v), default=1.0)
    unit = format_energy(smallest).split()[-1]
    return dict(ENERGY_UNITS)[unit], unit


def energy_per(results: dict) -> str:
    """What one memory energy of the report pays for: ``"inference"`` (read energy: the
    weights read once per inference) or ``"programming"`` (write energy, RRAM: the weights
    programmed once)."""
    return "inference" if results["operating_points"].get("energy_kind", "read") == "read" else "programming"


def layer_labels(results: dict) -> dict[str, str]:
    """``{layer name: label}`` as the CLI shows layers (``fc1 (2)``), from the operating points."""
    return {l["name"]: l.get("label") or l["name"] for l in results["operating_points"]["layers"]}


def figure(alt: str, src: str, caption: str) -> list[str]:
    """A figure: the image line, then its caption (what to look for in it)."""
    return [f"![{alt}]({src})", f"*{caption}*", ""]


def slug(title: str) -> str:
    """The anchor of a heading (lower case, words joined by '-')."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def to_html(md: str, title: str) -> str:
    """The report's markdown subset (module docstring) as one self-contained HTML page."""
    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = _take(lines, i, lambda l: l.startswith("|"))
            body.append(_table(block))
        elif line.startswith("> "):
            block = _take(lines, i, lambda l: l.startswith("> "))
            body.append(_verdict(block))
        elif line.startswith("- "):
            block = _take(lines, i, lambda l: l.startswith("- "))
            body.append("<ul>" + "".join(f"<li>{_inline(l[2:])}</li>" for l in block) + "</ul>")
        elif m := re.fullmatch(r"!\[(.*)\]\((.*)\)", line):
            caption = lines[i + 1] if i + 1 < len(lines) else ""
            cap = re.fullmatch(r"\*(.+)\*", caption)
            block = [line, caption] if cap else [line]
            figcaption = f"<figcaption>{_inline(cap[1])}</figcaption>" if cap else ""
            body.append(f'<figure><img alt="{html.escape(m[1])}" src="{m[2]}">{figcaption}</figure>')
        else:
            block = [line]
            if line.startswith("## "):
                body.append(f'<h2 id="{slug(line[3:])}">{_inline(line[3:])}</h2>')
            elif line.startswith("# "):
                body.append(f"<h1>{_inline(line[2:])}</h1>")
            elif line.strip():
                body.append(f"<p>{_inline(line)}</p>")
        i += len(block)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def _take(lines: list[str], start: int, keep) -> list[str]:
    end = start
    while end < len(lines) and keep(lines[end]):
        end += 1
    return lines[start:end]


def _table(rows: list[str]) -> str:
    rows = [r for r in rows if not re.fullmatch(r"\|[-:| ]+\|", r)]
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    css = ' class="context"' if cells and cells[0][:1] == ["context"] else ""
    return f"<table{css}>" + "".join(
        "<tr>" + "".join(f"<{t}>{_inline(c)}</{t}>" for c in row) + "</tr>"
        for i, row in enumerate(cells) for t in ["th" if i == 0 else "td"]) + "</table>"


def _verdict(block: list[str]) -> str:
    items = []
    for line in block:
        text = line[2:]
        if not text.startswith("- "):
            continue
        m = re.match(r"- \*\*[^*]*: (\w+)\.\*\*", text)
        css = ANSWERS.get(m[1], "info") if m else "info"
        items.append(f'<li class="{css}">{_inline(text[2:])}</li>')
    return '<div class="verdict" id="verdict"><ul>' + "".join(items) + "</ul></div>"


def _inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<i>\1</i>", t)
    return re.sub(r"\[([^\]]+)\]\((#[\w-]+)\)", r'<a href="\2">\1</a>', t)
