"""The HTML report of a real quick run in a real headless browser (Debian's chromium driven by
Playwright): the header and the verdict are there, every image decodes, the page logs no
console error, and nothing overflows horizontally at 1280 and 800 px.

Needs ``/usr/bin/chromium`` (``.ci/run`` installs it) and the ``playwright`` Python package
(the test extra); Playwright's own browser download is not used."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (apt-get install chromium)", allow_module_level=True)

#: what Chromium needs on a machine with a closed network and no GPU (no sandbox as root)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
#: generous on a loaded 2-core machine; nothing here is a timing assertion
TIMEOUT_MS = 120_000

LAYOUT = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 0.5) wide.push(`${el.tagName} right ${r.right} > ${width}: ${el.textContent.slice(0, 60)}`);
    if (['P', 'TD', 'TH', 'LI', 'FIGCAPTION', 'H1', 'H2'].includes(el.tagName) && el.scrollWidth > el.clientWidth + 1)
      wide.push(`${el.tagName} text ${el.scrollWidth} > box ${el.clientWidth}: ${el.textContent.slice(0, 60)}`);
  }
  return {width, scrollWidth: document.documentElement.scrollWidth, wide,
          images: [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth,
                                                  caption: (i.closest('figure')?.querySelector('figcaption')?.textContent || '')}))};
}"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("width", [1280, 800])
def test_report_renders_whole_in_a_browser(browser, sram_quick_run, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
    try:
        page.goto((sram_quick_run / "report" / "report.html").as_uri(), wait_until="load", timeout=TIMEOUT_MS)
        h1 = page.locator("h1").inner_text()
        assert h1.startswith("faultbench run report") and "sram_lowvoltage" in h1 and "quick" in h1
        context = page.locator("table.context").inner_text()
        for key in ("profile", "data set", "network", "training", "settings", "board", "date", "faultbench", "seeds",
                    "energy model"):
            assert key in context
        items = page.locator("#verdict li")
        texts = [items.nth(i).inner_text() for i in range(items.count())]
        assert len(texts) == 5 and any(t.startswith("Operating points hold on the board:") for t in texts)
        assert all(c in ("pass", "fail", "caution", "info")
                   for c in (items.nth(i).get_attribute("class") for i in range(items.count())))
        for href in page.locator("a[href^='#']").evaluate_all("as => as.map(a => a.getAttribute('href'))"):
            assert page.locator(href).count() == 1, href
        layout = page.evaluate(LAYOUT)
        assert len(layout["images"]) == 4 and all(i["ok"] and len(i["caption"]) > 40 for i in layout["images"]), \
            layout["images"]
        assert layout["scrollWidth"] <= layout["width"] and not layout["wide"], layout["wide"][:5]
        assert not errors, errors
    finally:
        page.close()
