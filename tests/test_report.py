"""The summary report: its renderers escape every config string and keep the HTML and
Markdown tables identical; its numbers (convergence epoch, mean and spread, one format per
column, no spread below rounding) and verdicts are right; the timings page has its totals;
and, end to end on config/test.yaml, the report has every section, table and figure, a
contents that reaches all of them, results before each experiment's collapsed config,
every image decodes, nothing is fetched from the network, and it is byte-identical when
rebuilt. Opt-in (``pytest -m browser``, Chromium from apt): a headless Chromium loads it
at 1280 px and at a phone width with no broken image, console message or dangling
contents link and no sideways scrolling, and keeps screenshots of its top."""

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from backproplab.report.document import (
    Code,
    Details,
    Document,
    Figure,
    Paragraph,
    Section,
    render_html,
    render_markdown,
)
from backproplab.report.tables import Table, convergence_epochs, fmt
from backproplab.report.timings import write_timings
from backproplab.tabular import column, spread_column
from backproplab.verdicts import verdict_text

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
    section.add(Section(HOSTILE, "s1-a", [Details(HOSTILE, HOSTILE)], contents=HOSTILE))
    return Document(HOSTILE, [Paragraph(HOSTILE, "note")], [section])


def test_every_string_is_escaped_in_the_html(tmp_path):
    text = render_html(_document(tmp_path))
    assert "<script" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in text
    page = _parse(text)
    assert set(page.tags) <= {
        "html", "head", "meta", "title", "style", "body", "div", "nav", "strong", "ol", "ul",
        "li", "a", "main", "h1", "p", "section", "h2", "h3", "pre", "table", "caption",
        "thead", "tr", "th", "tbody", "td", "figure", "img", "figcaption", "details",
        "summary",
    }  # fmt: skip
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png;base64,")


def test_contents_reaches_every_section_and_figure(tmp_path):
    text = render_html(_document(tmp_path))
    nav = text[text.index('<nav id="contents"') : text.index("</nav>")]
    assert re.findall(r'href="#([^"]+)"', nav) == ["top", "s1", "fig-1", "s1-a"]
    page = _parse(text)
    assert {"top", "s1", "fig-1", "s1-a", "contents"} <= page.ids
    # The sub-section's config is collapsed; the Markdown twin shows it as code.
    assert "<details><summary>" in text and "</pre></details>" in text


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
    assert spread_column([[1.0, 3.0]]) == ["2.000 \u00b1 1.0"]
    assert spread_column([[np.nan, 2.5], [], [None]]) == ["2.500", "\u2013", "\u2013"]
    assert spread_column([[120.0, 130.0], [120.0, 120.6]], integer=True) == [
        "125 \u00b1 5",
        "120",  # a spread of 0.3 epochs prints as 0: below rounding
    ]
    assert fmt(0.000123456) == "0.0001235" and fmt(None) == "\u2013" and fmt(True) == "yes"


def test_a_spread_is_shown_only_above_rounding():
    # Floating-point noise: 0.9933 ± 1.1e-16 is 0.9933.
    assert spread_column([[0.9933, 0.9933 + 2.2e-16]]) == ["0.9933"]
    # Below half a unit of the mean's last printed digit (4 digits: 0.0001): omitted.
    assert spread_column([[0.5, 0.50008]]) == ["0.5000"]
    # At or above it: shown, two significant digits, never more decimals than the mean.
    assert spread_column([[0.5, 0.5004]]) == ["0.5002 \u00b1 0.0002"]
    assert spread_column([[0.001, 0.0066]]) == ["0.003800 \u00b1 0.0028"]
    # In a scientific column the rule is the same, relative to the mean's exponent.
    assert spread_column([[3.5e-5, 3.5e-5 * (1 + 1e-5)], [0.5]]) == ["3.500e-05", "5.000e-01"]
    assert spread_column([[3.0e-5, 4.0e-5], [0.5]]) == ["3.500e-05 \u00b1 5.0e-06", "5.000e-01"]


def test_a_column_has_one_number_format():
    # Magnitudes within a factor of 1000: fixed, the smallest with 4 significant digits.
    assert column([0.0025, 0.69, 0.05]) == ["0.002500", "0.690000", "0.050000"]
    # Wider, or below 1e-4: scientific throughout.
    assert column([3.0e-5, 0.69]) == ["3.000e-05", "6.900e-01"]
    assert column([3.3e-10, 1e-4, None], 2) == ["3.3e-10", "1.0e-04", "\u2013"]
    assert column([-2.4e-10, 1.7e-3, 0.0], 2, signed=True) == ["-2.4e-10", "+1.7e-03", "0"]
    assert spread_column([[0.0025, 0.0027], [0.69]]) == ["0.002600 \u00b1 0.00010", "0.690000"]


def _reference(**kw):
    row = dict(
        reference="r", quantity="q", reading="", published="0.0317", published_value=0.0317,
        computed=0.0356, difference=0.0039, tolerance=5e-5, agrees=False, band_low=0.027,
        band_high=0.041, conditioning="chaotic", check="band", passes=True, required=True,
        note="",
    )  # fmt: skip
    return SimpleNamespace(**(row | kw))


def test_a_row_measured_but_not_gated_says_what_it_is():
    banded = verdict_text(_reference())
    assert banded == "passes: 12% above the printed value, inside its rounding band"
    other = _reference(
        required=False, check="digits", band_low=np.nan, computed=0.0316, note="another reading"
    )
    text = verdict_text(other)
    assert text.startswith("measured, not gated: 0.32% below the printed value, outside its")
    assert text.endswith("; another reading") and "required" not in text
    assert verdict_text(_reference(check="digits", agrees=True)) == (
        "passes: agrees to its printed digits"
    )


def test_timings_page_has_totals_end_to_end_time_and_shares(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    t0 = time.time() - 1000
    # (stage/job, wall seconds, end time): two jobs overlap, a third runs after them.
    jobs = [
        ("train/a", 30.0, t0 + 30),
        ("train/b", 50.0, t0 + 60),
        ("report/index", 20.0, t0 + 100),
    ]
    paths = []
    for name, wall, end in jobs:
        path = tmp_path / "logs" / f"{name}.benchmark.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{wall}\t0:00:00\t100\t0\t0\t0\t0\t0\t0\t{wall / 2}\n")
        os.utime(path, (end, end))
        paths.append(f"logs/{name}.benchmark.tsv")
    paths.append("logs/figures/missing.benchmark.tsv")
    write_timings(paths, tmp_path / "timings.html")
    text = (tmp_path / "timings.html").read_text()
    # 100 s of job wall time; end to end from job a's start (its end less its wall
    # time: t0) to the report's end (t0 + 100).
    assert "0:01:40 (100.0 s) of job wall time in total" in text
    assert "end to end" in text and "0:01:40 (100.0 s), 1.0 jobs at a time" in text
    page = _parse(text)
    stages = {row[0]: row for row in page.tables[0][1:]}
    assert stages["train"][3] == "80.0%" and stages["report"][3] == "20.0%"
    assert stages["figures"][2:4] == ["\u2013", "\u2013"]  # its one job: not recorded
    assert stages["all jobs"][1:4] == ["3", "100.00", "100%"]


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
    assert re.search(r"All \d+ checks pass", html)
    # The validation stage's summary is tables, not Markdown pasted into <pre>.
    validation = html[html.index('<section id="validation">') : html.index('id="provenance"')]
    assert "<pre>" not in validation and "**" not in validation and "| ---" not in validation
    assert validation.count("<table>") >= 3
    # The contents reaches every experiment, section and figure; every link resolves.
    nav = html[html.index('<nav id="contents"') : html.index("</nav>")]
    listed = set(re.findall(r'href="#([^"]+)"', nav))
    assert set(re.findall(r'<(?:section|figure) id="([^"]+)"', html)) <= listed <= page.ids
    # Per experiment: its results, then its config, collapsed, last.
    for name, spec in experiments.items():
        start = html.index(f'<section id="exp-{name}">')
        end = html.index("</section>", start)
        body = html[start:end]
        assert body.count("<details>") == 1 and body.rstrip().endswith("</details>")
        assert body.index("<table>") < body.index("<details>")
        for kind in spec["figures"]:
            assert body.index(f'id="fig-{name}-{kind}"') < body.index("<details>")


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
    work, config = built
    names = [
        "results/report/index.html",
        "results/report/summary.md",
        "results/figures/moons/predictions.png",
        "results/figures/moons/predictions.pdf",
        "results/figures/encoder/norms.json",
    ]
    before = {n: (work / n).read_bytes() for n in names}
    figure_rules = [f"figures_{name}" for name in config["experiments"]]
    _snakemake(work, "--forcerun", "report", *figure_rules)
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


# Injected into a copy of the page (the report itself has no script): records load
# and console errors, broken images, contents links that resolve to no element,
# sections and figures the contents does not list, sideways overflow of the page, and
# where the contents is once the page has scrolled half way. It reports into the page
# itself, or, inside the phone-width frame, to the page around it.
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
  var all = function (q) { return Array.prototype.slice.call(document.querySelectorAll(q)); };
  var target = function (a) { return decodeURIComponent(a.getAttribute('href').slice(1)); };
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var nav = document.getElementById('contents');
  var listed = all('#contents a[href^="#"]').map(target);
  var overflow = document.documentElement.scrollWidth - window.innerWidth;
  window.scrollTo(0, document.documentElement.scrollHeight / 2);
  var box = nav.getBoundingClientRect();
  var back = document.querySelector('.to-contents').getBoundingClientRect();
  var seen = {
    width: window.innerWidth,
    images: images.length,
    broken: broken.length,
    errors: window.__errors,
    links: all('a[href^="#"]').length,
    unresolved: all('a[href^="#"]').map(target).filter(function (id) {
      return !document.getElementById(id); }),
    unlisted: all('main section[id], main figure[id]').map(function (e) { return e.id; })
      .filter(function (id) { return listed.indexOf(id) < 0; }),
    overflow: overflow,
    contents: getComputedStyle(nav).position,
    contents_in_view: box.top <= 1 && box.bottom > 0,
    back_link_in_view: back.height > 0 && back.bottom <= window.innerHeight,
    scrolled: window.scrollY > 0
  };
  if (window.parent !== window) {
    window.parent.postMessage(JSON.stringify(seen), '*');
    return;
  }
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
});
</script>"""

# Headless Chromium keeps its window at least 500 px wide: a phone is a frame that wide.
_PHONE = """<!DOCTYPE html><html><head><meta charset="utf-8"><script>
window.addEventListener('message', function (e) {
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = e.data;
  document.body.appendChild(out);
});
</script></head><body style="margin:0">
<iframe src="{page}" width="{width}" height="844" style="border:0"></iframe>
</body></html>"""

PHONE_WIDTH = 390


def _chromium():
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


_HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--hide-scrollbars"]  # fmt: skip


def _open_headless(browser, page, width=1280):
    """Load ``page`` in a headless browser ``width`` px wide; returns what the probe saw,
    with ``console``, the page's console messages (Chromium logs them to stderr)."""
    cmd = [browser, *_HEADLESS, "--enable-logging=stderr", "--v=0",
           f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom",
           page.as_uri()]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, flags=re.S)
    assert found, f"the page did not finish loading:\n{proc.stdout[:2000]}\n{proc.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    seen["console"] = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return seen


def _screenshot(browser, page, out, width, height):
    """A screenshot of the top of ``page``, ``width`` x ``height`` px."""
    cmd = [browser, *_HEADLESS, f"--window-size={width},{height}", f"--screenshot={out}",
           page.as_uri()]  # fmt: skip
    subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    image = Image.open(out)
    assert image.size == (width, height)
    lo, hi = image.convert("L").getextrema()
    assert hi - lo > 100, f"{out} is blank"
    return out


browser = pytest.mark.browser


@slow
@browser
def test_report_renders_in_a_headless_browser(built, tmp_path):
    """Chromium (apt: chromium) shows the page at 1280 px and at a phone's width: every
    image loads, no console message or load error, every contents link resolves and
    every section and figure is listed, the page never scrolls sideways, the contents
    stays in view (side bar) or is a link away (phone); screenshots of its top are kept
    in $BACKPROPLAB_ARTIFACTS (default: the test's tmp_path)."""
    chromium = _chromium()
    assert chromium, "no Chromium: apt-get install -y chromium (.ci/run does)"
    work, config = built
    report = work / "results/report/index.html"
    html = report.read_text()
    assert "<script" not in html  # it works without JavaScript: it has none
    probed = report.with_name("probed.html")  # beside the report: its PDF links resolve
    probed.write_text(html.replace("<head>", "<head>\n" + _PROBE, 1))
    n_figures = sum(len(e["figures"]) for e in config["experiments"].values())
    clean = {"broken": 0, "errors": [], "console": [], "unresolved": [], "unlisted": []}

    wide = _open_headless(chromium, probed)
    assert wide["width"] == 1280 and wide["images"] == n_figures
    assert {k: wide[k] for k in clean} == clean
    assert wide["links"] > n_figures + len(config["experiments"])
    assert wide["overflow"] <= 0, "the page scrolls sideways at 1280 px"
    assert wide["scrolled"] and wide["contents"] == "sticky" and wide["contents_in_view"]

    phone_page = report.with_name("phone.html")
    phone_page.write_text(
        _PHONE.replace("{page}", probed.name).replace("{width}", str(PHONE_WIDTH))
    )
    phone = _open_headless(chromium, phone_page)
    assert phone["width"] == PHONE_WIDTH and phone["images"] == n_figures
    assert {k: phone[k] for k in clean} == clean
    assert phone["overflow"] <= 0, f"the page scrolls sideways at {PHONE_WIDTH} px"
    # The contents is a block above the text; a fixed link leads back to it.
    assert phone["contents"] == "static" and phone["back_link_in_view"]

    # The probe itself must notice a broken image, a dangling link and a page too wide.
    broken = tmp_path / "broken.html"
    broken.write_text(
        probed.read_text()
        .replace("base64,iVBOR", "base64,AAAA", 1)
        .replace("<main", '<a href="#nowhere">x</a><main', 1)
        .replace("</body>", '<div style="width: 2000px">wide</div></body>', 1)
    )
    seen = _open_headless(chromium, broken)
    assert seen["broken"] == 1 and seen["unresolved"] == ["nowhere"] and seen["overflow"] > 0

    probed.unlink()
    phone_page.unlink()

    artifacts = Path(os.environ.get("BACKPROPLAB_ARTIFACTS") or tmp_path).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    for name, width, height in (("top-1280", 1280, 900), ("top-phone", PHONE_WIDTH, 844)):
        out = _screenshot(chromium, report, artifacts / f"report-{name}.png", width, height)
        print(f"screenshot: {out}")
