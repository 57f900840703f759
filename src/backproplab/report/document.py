"""A small document model for the report, and its two renderings: one self-contained
HTML file (images embedded, no script, no network) and a Markdown twin with the same
text and tables.

The HTML page has a contents side bar that reaches every section, sub-section and
figure and stays in view while the page scrolls (CSS ``position: sticky``); on a narrow
screen it becomes a block above the text, with a fixed link back to it. Long tables and
code scroll inside their own box, so that the page itself never scrolls sideways.

Every string in the model is plain text; the HTML renderer escapes all of it, so a
config value can never become markup. Images are read at render time and embedded as
base64; the Markdown links them by relative path instead.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from .tables import Table

__all__ = [
    "Code",
    "Details",
    "Document",
    "Figure",
    "Link",
    "Paragraph",
    "Section",
    "Table",
    "render_html",
    "render_markdown",
]


@dataclass
class Paragraph:
    text: str
    kind: str = ""  # "", "note" (shaded), "warning", "pass" or "fail"


@dataclass
class Code:
    """Preformatted text (a config excerpt, a printed log)."""

    text: str
    caption: str = ""


@dataclass
class Details:
    """Preformatted text collapsed under a one-line summary (an experiment's config);
    the Markdown twin shows it as a code block under the summary."""

    summary: str
    text: str


@dataclass
class Link:
    text: str
    href: str  # relative to the report
    before: str = ""
    after: str = ""


@dataclass
class Figure:
    """A PNG embedded in the HTML, with its caption and a link to its vector PDF.

    ``png`` is read from disk; ``href_png`` and ``href_pdf`` are the paths relative to
    the report directory that the Markdown (and the HTML's PDF link) use.
    """

    title: str
    png: Path
    href_png: str
    href_pdf: str
    caption: str
    anchor: str = ""


@dataclass
class Section:
    """A titled section; ``contents`` is its (shorter) entry in the contents, if set."""

    title: str
    anchor: str
    blocks: list = field(default_factory=list)
    contents: str = ""

    def add(self, *blocks) -> Section:
        self.blocks.extend(blocks)
        return self


@dataclass
class Document:
    title: str
    intro: list = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #1b1b1b; line-height: 1.45; }
.page { display: grid; grid-template-columns: 17rem minmax(0, 1fr); }
#contents { position: sticky; top: 0; align-self: start; box-sizing: border-box;
            height: 100vh; overflow-y: auto; background: #f4f5f7;
            border-right: 1px solid #d8dbe0; padding: 0.9em 0.9em 2em; font-size: 0.84em;
            line-height: 1.3; overflow-wrap: anywhere; }
#contents .title { font-weight: 600; margin: 0 0 0.6em; }
#contents ol { list-style: none; margin: 0; padding: 0; }
#contents ol ol { padding-left: 0.85em; margin: 0.15em 0 0.35em; }
#contents li { margin: 0.22em 0; }
#contents ul { list-style: none; margin: 0.1em 0 0.3em 0.85em; padding: 0; font-size: 0.93em;
               color: #666; }
#contents ul li { display: inline; margin: 0; }
#contents ul li + li::before { content: "\\00b7"; margin: 0 0.35em; }
#contents a { color: #0b4f8a; text-decoration: none; }
#contents a:hover { text-decoration: underline; }
main { max-width: 1180px; min-width: 0; padding: 1.2em 2em 4em; }
main p, main li, figcaption, h1, h2, h3 { overflow-wrap: anywhere; }
.to-contents { display: none; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #d8dbe0; padding-bottom: 0.2em; margin-top: 2.2em; }
h3 { margin-top: 1.6em; }
:target { scroll-margin-top: 0.6em; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.6em 0 1.2em; }
table { border-collapse: collapse; font-size: 0.86em; }
th, td { border: 1px solid #d0d4da; padding: 0.25em 0.55em; vertical-align: top; }
th { background: #eef0f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: bottom; text-align: left; color: #555; font-size: 0.95em;
          padding-top: 0.3em; }
figure { margin: 1.2em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e5e8; }
figcaption { color: #333; font-size: 0.92em; max-width: 980px; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 0.7em 1em; overflow-x: auto;
      font-size: 0.82em; line-height: 1.35; }
details { margin: 1em 0 1.6em; }
summary { cursor: pointer; color: #0b4f8a; }
p.note { background: #f1f6fc; border-left: 4px solid #0072B2; padding: 0.5em 0.8em; }
p.warning, p.fail { background: #fdf3ec; border-left: 4px solid #D55E00; padding: 0.5em 0.8em; }
p.pass { background: #eef7f1; border-left: 4px solid #009E73; padding: 0.5em 0.8em; }
.small { color: #555; font-size: 0.9em; }
@media (max-width: 860px) {
  .page { display: block; }
  #contents { position: static; height: auto; border-right: 0;
              border-bottom: 1px solid #d8dbe0; padding: 0.8em 1em; }
  main { padding: 0.8em 1em 4em; }
  .to-contents { display: block; position: fixed; right: 0.7em; bottom: 0.7em; margin: 0; }
  .to-contents a { background: #0b4f8a; color: #fff; padding: 0.45em 0.8em;
                   border-radius: 4px; text-decoration: none; font-size: 0.9em; }
}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _table_html(t: Table) -> str:
    out = ['<div class="scroll"><table>']
    if t.caption:
        out.append(f"<caption>{_e(t.caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in t.columns) + "</tr></thead>")
    out.append("<tbody>")
    for row in t.rows:
        cells = []
        for value, numeric in zip(row, t.numeric, strict=True):
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{_e(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _block_html(block) -> str:
    if isinstance(block, Paragraph):
        cls = f' class="{block.kind}"' if block.kind else ""
        return f"<p{cls}>{_e(block.text)}</p>"
    if isinstance(block, Code):
        caption = f'<p class="small">{_e(block.caption)}</p>' if block.caption else ""
        return f"{caption}<pre>{_e(block.text)}</pre>"
    if isinstance(block, Details):
        return (
            f"<details><summary>{_e(block.summary)}</summary><pre>{_e(block.text)}</pre></details>"
        )
    if isinstance(block, Link):
        return (
            f'<p>{_e(block.before)}<a href="{_e(block.href)}">{_e(block.text)}</a>'
            f"{_e(block.after)}</p>"
        )
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Figure):
        data = base64.b64encode(Path(block.png).read_bytes()).decode("ascii")
        anchor = f' id="{_e(block.anchor)}"' if block.anchor else ""
        return (
            f'<figure{anchor}><img src="data:image/png;base64,{data}" alt="{_e(block.title)}">'
            f"<figcaption><strong>{_e(block.title)}.</strong> {_e(block.caption)} "
            f'<a href="{_e(block.href_pdf)}">Vector PDF</a>.</figcaption></figure>'
        )
    if isinstance(block, Section):
        return _section_html(block, level=3)
    raise TypeError(f"unknown report block {type(block).__name__}")


def _section_html(section: Section, level: int = 2) -> str:
    parts = [f'<section id="{_e(section.anchor)}">', f"<h{level}>{_e(section.title)}</h{level}>"]
    parts += [_block_html(b) for b in section.blocks]
    parts.append("</section>")
    return "\n".join(parts)


def _contents_entry(section: Section) -> str:
    """A section's entry in the contents: its link, its figures' links on one line, and
    its sub-sections' entries."""
    entry = f'<li><a href="#{_e(section.anchor)}">{_e(section.contents or section.title)}</a>'
    figures = [b for b in section.blocks if isinstance(b, Figure) and b.anchor]
    if figures:
        entry += "<ul>" + "".join(
            f'<li><a href="#{_e(f.anchor)}">{_e(f.title)}</a></li>' for f in figures
        )
        entry += "</ul>"
    children = [b for b in section.blocks if isinstance(b, Section)]
    if children:
        entry += "<ol>" + "".join(_contents_entry(c) for c in children) + "</ol>"
    return entry + "</li>"


def render_html(doc: Document) -> str:
    """The whole report as one HTML page that needs nothing but itself."""
    toc = "\n".join(_contents_entry(s) for s in doc.sections)
    body = "\n".join(_section_html(s) for s in doc.sections)
    intro = "\n".join(_block_html(b) for b in doc.intro)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(doc.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        '<div class="page">\n<nav id="contents" aria-label="Contents">'
        f'<p class="title"><a href="#top">{_e(doc.title)}</a></p>\n<ol>\n{toc}\n</ol></nav>\n'
        f'<main id="top">\n<h1>{_e(doc.title)}</h1>\n{intro}\n{body}\n</main>\n</div>\n'
        '<p class="to-contents"><a href="#contents">Contents</a></p>\n</body>\n</html>\n'
    )


# -- Markdown --------------------------------------------------------------------------


def _md_text(text: str) -> str:
    """Plain text safe in Markdown: no accidental emphasis, links or raw HTML."""
    out = str(text).replace("\\", "\\\\")
    for ch in "*_`[]<>#":
        out = out.replace(ch, "\\" + ch)
    return out


def _md_cell(text) -> str:
    """A table cell: escaped like text, with pipes escaped and on one line."""
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _table_md(t: Table) -> str:
    lines = [
        "| " + " | ".join(_md_cell(c) for c in t.columns) + " |",
        "| " + " | ".join("---:" if n else "---" for n in t.numeric) + " |",
    ]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{_md_text(t.caption)}*"]
    return "\n".join(lines)


def _block_md(block, level: int) -> str:
    if isinstance(block, Paragraph):
        prefix = "> " if block.kind else ""
        return prefix + _md_text(block.text)
    if isinstance(block, Code):
        fence = "````" if "```" in block.text else "```"
        caption = f"{_md_text(block.caption)}\n\n" if block.caption else ""
        return f"{caption}{fence}\n{block.text}\n{fence}"
    if isinstance(block, Details):
        fence = "````" if "```" in block.text else "```"
        return f"{_md_text(block.summary)}:\n\n{fence}\n{block.text}\n{fence}"
    if isinstance(block, Link):
        return (
            f"{_md_text(block.before)}[{_md_text(block.text)}]({block.href}){_md_text(block.after)}"
        )
    if isinstance(block, Table):
        return _table_md(block)
    if isinstance(block, Figure):
        return (
            f"![{_md_text(block.title)}]({block.href_png})\n\n"
            f"**{_md_text(block.title)}.** {_md_text(block.caption)} "
            f"([vector PDF]({block.href_pdf}))"
        )
    if isinstance(block, Section):
        return _section_md(block, level + 1)
    raise TypeError(f"unknown report block {type(block).__name__}")


def _section_md(section: Section, level: int = 2) -> str:
    parts = [f"{'#' * level} {_md_text(section.title)}"]
    parts += [_block_md(b, level) for b in section.blocks]
    return "\n\n".join(parts)


def render_markdown(doc: Document) -> str:
    """The report's text and tables as Markdown, figures linked by relative path."""
    parts = [f"# {_md_text(doc.title)}"]
    parts += [_block_md(b, 1) for b in doc.intro]
    parts += [_section_md(s) for s in doc.sections]
    return "\n\n".join(parts) + "\n"
