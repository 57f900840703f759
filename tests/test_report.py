"""The summary report: its renderers escape every config string and keep the HTML and
Markdown tables identical; its numbers (convergence epoch, mean and spread) are right;
and, end to end on config/test.yaml, the report has every section, table and figure,
every image decodes, nothing is fetched from the network, it is byte-identical when
rebuilt, and (where Chromium is installed) a headless browser shows it without errors."""

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from backproplab.report.document import (
    Code,
    Document,
    Figure,
    Paragraph,
    Section,
    render_html,
    render_markdown,
)
from backproplab.report.tables import Table, convergence_epochs, fmt, mean_std

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)> | *bold* `code`'


class _Page(HTMLParser):
    """The tags, ids, image sources, links and table shapes of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.ids, self.images, self.links = [], set(), [], []
        self.tables, self._row = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag in ("a", "link", "script", "iframe") and (attrs.get("href") or attrs.get("src")):
            self.links.append(attrs.get("href") or attrs.get("src"))
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self._row = []
            self.tables[-1].append(self._row)

    def handle_data(self, data):
        if self._row is not None and self.tags and self.tags[-1] in ("td", "th"):
            self._row.append(data)

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


# -- renderers and numbers (fast) -------------------------------------------------------


def _document(tmp_path) -> Document:
    png = tmp_path / "f.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(png)
    table = Table(["name", "value"], [[HOSTILE, "1.5"], ["b|c", "2"]], HOSTILE, [False, True])
    section = Section(HOSTILE, "s1", [Paragraph(HOSTILE), Code(HOSTILE, HOSTILE), table])
    section.add(Figure(HOSTILE, png, "f.png", "f.pdf", HOSTILE, "fig-1"))
    return Document(HOSTILE, [Paragraph(HOSTILE, "note")], [section])


def test_every_string_is_escaped_in_the_html(tmp_path):
    text = render_html(_document(tmp_path))
    assert "<script" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in text
    page = _parse(text)
    assert set(page.tags) <= {
        "html", "head", "meta", "title", "style", "body", "nav", "strong", "ol", "li", "a",
        "main", "h1", "p", "section", "h2", "pre", "table", "caption", "thead", "tr", "th",
        "tbody", "td", "figure", "img", "figcaption",
    }  # fmt: skip
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png;base64,")


def test_markdown_twin_has_the_same_tables(tmp_path):
    doc = _document(tmp_path)
    html_rows = _parse(render_html(doc)).tables[0]
    md = render_markdown(doc)
    md_rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(md_rows) == len(html_rows) + 1  # the alignment row
    assert r"b\|c" in md and "![" in md and "(f.png)" in md
    # Outside code blocks (shown literally), markup characters are escaped.
    prose = re.sub(r"```.*?```", "", md, flags=re.S)
    assert "<script>" not in prose and r"\<script\>" in prose


def test_convergence_epoch_is_when_the_loss_stays_near_its_end():
    metrics = pd.DataFrame(
        {
            "run_id": ["a"] * 5 + ["b"] * 4 + ["c"] * 3,
            "epoch": [0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2],
            "loss": [1.0, 0.5, 0.2, 0.11, 0.1, 1.0, 0.1, 0.5, 0.1, 0.2, 0.3, 0.4],
        }
    )
    conv = convergence_epochs(metrics)
    assert conv["a"] == 3  # 0.1 + 5% of 0.9 = 0.145: first stays below from epoch 3
    assert conv["b"] == 3  # dips at epoch 1 but rises again
    assert np.isnan(conv["c"])  # the loss rose


def test_numbers_are_formatted_with_their_spread():
    assert mean_std([1.0, 3.0]) == "2 \u00b1 1"
    assert mean_std([np.nan, 2.5]) == "2.5"
    assert mean_std([]) == "\u2013"
    assert mean_std([120.0, 130.0], integer=True) == "125 \u00b1 5"
    assert fmt(0.000123456) == "0.0001235" and fmt(None) == "\u2013" and fmt(True) == "yes"


# -- end to end on config/test.yaml (slow) ---------------------------------------------


def _snakemake(workdir, *args):
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/report.yaml"]
    proc = subprocess.run([*cmd, *args], cwd=workdir, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory, root, copy_workflow):
    """The test config, one description made hostile, run to the report in a copy."""
    work = copy_workflow(tmp_path_factory.mktemp("report"))
    config = yaml.safe_load((root / "config" / "test.yaml").read_text())
    config["experiments"]["moons"]["description"] = HOSTILE
    (work / "config" / "report.yaml").write_text(yaml.safe_dump(config))
    _snakemake(work)
    return work, config


slow = pytest.mark.slow


@slow
def test_report_has_every_section_table_and_figure(built):
    work, config = built
    html = (work / "results/report/index.html").read_text()
    page = _parse(html)
    experiments = config["experiments"]
    for name in experiments:
        assert f"exp-{name}" in page.ids
    for seed in {e["reproduces"] for e in experiments.values()}:
        assert f"seed-{seed}-vs-ours" in page.ids
    assert {"overview", "validation", "provenance"} <= page.ids
    expected = {(n, k) for n, e in experiments.items() for k in e["figures"]}
    assert {f"fig-{n}-{k}" for n, k in expected} <= page.ids
    assert len(page.images) == len(expected)
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        image.load()
        assert image.size[0] > 300
    # Nothing is fetched: the only links are the PDFs, the timings page and the twin.
    for link in page.links:
        assert not re.match(r"^[a-z]+://", link), link
        assert link.startswith("#") or link.endswith((".pdf", ".html", ".md")), link
        if not link.startswith("#"):
            assert (work / "results/report" / link).resolve().is_file(), link
    # Final-metric tables: one row per variant and learning rate of each experiment.
    metric_tables = [t for t in page.tables if t and t[0][:3] == ["variant", "lr", "runs"]]
    assert len(metric_tables) == len(experiments)
    assert "&lt;script&gt;" in html and HOSTILE not in html
    assert "every check passes" in html


@slow
def test_markdown_twin_matches_the_html_tables(built):
    work, _ = built
    page = _parse((work / "results/report/index.html").read_text())
    md = (work / "results/report/summary.md").read_text()
    # Code blocks (the validation stage's own summary.md, quoted) are not tables here.
    md = re.sub(r"^(`{3,}).*?^\1", "", md, flags=re.M | re.S)
    md_tables = re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M)
    assert len(md_tables) == len(page.tables)
    for html_table, md_table in zip(page.tables, md_tables):
        assert len(md_table.strip().splitlines()) == len(html_table) + 1


@slow
def test_report_and_figures_are_byte_identical_when_rebuilt(built):
    work, _ = built
    names = [
        "results/report/index.html",
        "results/report/summary.md",
        "results/figures/moons/predictions.png",
        "results/figures/moons/predictions.pdf",
        "results/figures/encoder/norms.json",
    ]
    before = {n: (work / n).read_bytes() for n in names}
    _snakemake(work, "--forcerun", "report", "figure")
    assert {n: (work / n).read_bytes() for n in names} == before
    assert b"/tmp" not in before["results/report/index.html"]
    timings = (work / "results/report/timings.html").read_text()
    assert "figures" in timings and "train" in timings


@slow
def test_snakemake_report_registers_the_figures(built):
    work, config = built
    _snakemake(work, "--report", "results/report/snakemake-report.html")
    text = (work / "results/report/snakemake-report.html").read_text(errors="replace")
    for name in config["experiments"]:
        assert name in text


_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  window.__errors.push(t.tagName ? 'failed to load ' + t.tagName : 'error ' + e.message);
}, true);
var consoleError = console.error;
console.error = function () {
  window.__errors.push('console.error ' + Array.prototype.join.call(arguments, ' '));
  consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify(
    {images: images.length, broken: broken.length, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def _chromium():
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def _open_headless(browser, page):
    """Load ``page`` in a headless browser with a probe that records load and console
    errors and counts broken images; returns what the probe saw."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', out, flags=re.S)
    assert found, f"the page did not finish loading:\n{out[:2000]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


@slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed")
def test_report_renders_in_a_headless_browser(built, tmp_path):
    work, config = built
    html = (work / "results/report/index.html").read_text()
    probed = tmp_path / "index.html"
    probed.write_text(html.replace("<head>", "<head>\n" + _PROBE, 1))
    seen = _open_headless(_chromium(), probed)
    n_figures = sum(len(e["figures"]) for e in config["experiments"].values())
    assert seen == {"images": n_figures, "broken": 0, "errors": []}
    # The probe itself must notice a broken image (so that the check above can fail).
    broken = tmp_path / "broken.html"
    broken.write_text(probed.read_text().replace("base64,iVBOR", "base64,AAAA", 1))
    assert _open_headless(_chromium(), broken)["broken"] == 1
