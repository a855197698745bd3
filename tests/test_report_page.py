"""report.html in a real headless browser (Debian's chromium): it renders, its filters work, it is readable.

The page is rendered from a run with every kind of verdict (failures, an error, a warning, skips,
a disabled check, known deviations met and no longer met) and opened from disk, offline. The
browser reports no console error; failure cards are dark text on a light card (the contrast is
measured on the computed colours); exchanges stay collapsed until opened; the status, area and
search filters show exactly the matching cards; the per-area bars add up.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from registry_harness.reports import CheckResult, RunResult, write_html
from registry_harness.reports.expectations import Expectation, Expectations, apply_expectations
from tests.browser import browser, chromium_binary

EXCHANGE = {"method": "GET", "url": "http://127.0.0.1:5000/v2/r/tags/list", "request_headers": [],
            "status": 200, "response_headers": [["Content-Type", "application/json"]],
            "response_body": '{"name":"r","tags":null}', "elapsed_ms": 3}


def sample_run() -> RunResult:
    def check(name: str, area: str, status: str, **fields: object) -> CheckResult:
        return CheckResult(id=f"conformance/checks/test_{area}.py::{name}", name=name, area=area, rule="end-8a",
                           level=str(fields.pop("level", "MUST")), text=f"the rule {name} enforces",
                           status=status, **fields)  # type: ignore[arg-type]

    checks = [
        check("test_tags_null", "discovery", "fail", message="tags is null, not an array", exchanges=[EXCHANGE],
              exchanges_count=1, curl="curl -i http://127.0.0.1:5000/v2/r/tags/list"),
        check("test_tags_order", "discovery", "fail", message="tags not in lexical order", exchanges=[EXCHANGE],
              exchanges_count=1),
        check("test_harness_bug", "push", "error", message="harness error KeyError: 'x'"),
        check("test_big_manifest", "manifests", "pass", level="SHOULD", warnings=["400 where 413 SHOULD be"],
              exchanges=[EXCHANGE], exchanges_count=1),
        check("test_mount_without_from", "push", "pass"),
        check("test_blob_get", "pull", "pass"),
        check("test_referrers_list", "referrers", "skip", reason="no referrers API (404)"),
        check("test_token_fields", "auth", "disabled", reason="area 'auth' switched off (--disable auth)"),
    ]
    run = RunResult("registry-conformance", {"url": "http://127.0.0.1:5000", "tls": "disabled"},
                    "2026-01-01T00:00:00+00:00", 1.5, checks)
    expectations = Expectations("fixtures/expectations/example.yaml", {
        "test_discovery.py::test_tags_null": Expectation("fail", "tags is null", "docs/peers/distribution-2.8.md"),
        "test_push.py::test_mount_without_from": Expectation("skip", "mount without from unsupported"),
    })
    apply_expectations(run, expectations)
    return run


VISIBLE = "Array.from(document.querySelectorAll('.card')).filter(c => !c.classList.contains('hidden'))"

CONTRAST = """(() => {
  const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 :
      Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const card = document.querySelector('.card.s-fail');
  const background = rgb(getComputedStyle(card).backgroundColor);
  return ['h3', '.meta', 'pre', 'p'].map(sel => {
    const el = card.querySelector(sel);
    return [sel, ratio(rgb(getComputedStyle(el).color), background)];
  }).concat([['background', background.join(',')]]);
})()"""


async def exercise(page_url: str, profile: Path, shots: Path) -> dict:
    """Open the page, work every filter like a user, and return what was observed."""
    seen: dict[str, object] = {}
    async with browser(profile) as page:
        await page.open(page_url)
        seen["title"] = await page.eval("document.title")
        seen["cards"] = await page.eval("document.querySelectorAll('.card').length")
        seen["shown"] = await page.eval("document.getElementById('f-shown').textContent")
        seen["external"] = await page.eval(
            "document.querySelectorAll('script[src],link[rel=stylesheet],img[src],iframe').length")
        seen["open_details"] = await page.eval("document.querySelectorAll('.card details[open]').length")
        seen["details"] = await page.eval("document.querySelectorAll('.card details').length")
        seen["contrast"] = await page.eval(CONTRAST)
        seen["first_card"] = await page.eval("document.querySelector('.card').getAttribute('data-status')")
        seen["expected_badge"] = await page.eval(
            "document.getElementById('conformance/checks/test_discovery.py::test_tags_null').textContent")
        seen["stale_badge"] = await page.eval(
            "document.getElementById('conformance/checks/test_push.py::test_mount_without_from').textContent")
        seen["bars"] = await page.eval(
            "Array.from(document.querySelectorAll('.chart .bar')).map(b => Array.from(b.children)"
            ".reduce((s, seg) => s + parseFloat(seg.style.width), 0))")
        # status filter: untick everything but "fail", by clicking the boxes as a user would
        await page.eval("document.querySelectorAll('input.f-status').forEach(b => { if (b.value !== 'fail') "
                        "b.click(); })")
        seen["only_fail"] = await page.eval(f"{VISIBLE}.map(c => c.getAttribute('data-status'))")
        await page.eval("document.querySelectorAll('input.f-status').forEach(b => { if (!b.checked) b.click(); })")
        # area filter
        await page.eval("(() => { const s = document.getElementById('f-area'); s.value = 'push'; "
                        "s.dispatchEvent(new Event('change')); })()")
        seen["only_push"] = await page.eval(f"{VISIBLE}.map(c => c.getAttribute('data-area'))")
        seen["shown_push"] = await page.eval("document.getElementById('f-shown').textContent")
        await page.eval("(() => { const s = document.getElementById('f-area'); s.value = ''; "
                        "s.dispatchEvent(new Event('change')); })()")
        # search box
        await page.eval("(() => { const q = document.getElementById('f-q'); q.value = 'lexical ORDER'; "
                        "q.dispatchEvent(new Event('input')); })()")
        seen["searched"] = await page.eval(f"{VISIBLE}.map(c => c.id)")
        await page.eval("(() => { const q = document.getElementById('f-q'); q.value = ''; "
                        "q.dispatchEvent(new Event('input')); })()")
        # opening an exchange shows it
        await page.eval("document.querySelector('.card.s-fail details summary').click()")
        seen["opened"] = await page.eval("document.querySelector('.card.s-fail details').open")
        # a link with a filter in its fragment opens filtered
        await page.open("about:blank")  # a new document, not a jump within this one
        await page.open(page_url + "#status=skip,disabled")
        seen["hash_filtered"] = await page.eval(f"{VISIBLE}.map(c => c.getAttribute('data-status'))")
        await page.screenshot(shots / "report.png")
        seen["errors"] = list(page.errors)
    return seen


def test_report_page_in_a_real_browser(tmp_path: Path) -> None:
    chromium_binary()  # skip (or fail under REQUIRE_PEERS=1) before doing anything when it is missing
    run = sample_run()
    path = write_html(run, tmp_path / "report.html")
    seen = asyncio.run(asyncio.wait_for(exercise(path.as_uri(), tmp_path / "profile", tmp_path), 90))
    assert seen["errors"] == [], seen["errors"]
    assert seen["title"] == "registry-conformance report — FAIL"
    assert seen["cards"] == len(run.checks) and seen["shown"] == f"{len(run.checks)} of {len(run.checks)} checks shown"
    assert seen["external"] == 0, "the page must be one self-contained file"
    assert seen["details"] >= 3 and seen["open_details"] == 0, "exchanges are collapsed by default"
    contrast = dict(seen["contrast"])
    assert contrast.pop("background") == "255,255,255", "a failure card keeps a light background"
    for selector, ratio in contrast.items():
        assert ratio >= 4.5, f"text {selector} on a failure card has contrast {ratio:.2f} (WCAG AA needs 4.5)"
    assert seen["first_card"] == "fail", "failures come first"
    assert "expected" in seen["expected_badge"] and "Known deviation" in seen["expected_badge"]
    assert "no longer as recorded" in seen["stale_badge"]
    assert len(seen["bars"]) == len({c.area for c in run.checks})
    assert all(99.9 <= total <= 100.1 for total in seen["bars"]), seen["bars"]
    assert seen["only_fail"] == ["fail", "fail"]
    assert seen["only_push"] == ["push", "push"] and seen["shown_push"] == f"2 of {len(run.checks)} checks shown"
    assert seen["searched"] == ["conformance/checks/test_discovery.py::test_tags_order"]
    assert seen["opened"] is True
    assert sorted(seen["hash_filtered"]) == ["disabled", "skip"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_page_is_valid_without_a_browser(tmp_path: Path) -> None:
    """The same page, read as text: every check is a card with its title, id, area, rule and level."""
    run = sample_run()
    html = write_html(run, tmp_path / "report.html").read_text()
    for check in run.checks:
        assert f'id="{check.id}"' in html and check.text in html
    assert html.count('class="badge b-fail"') >= 2 and 'class="card s-fail' in html
    assert "<details open" not in html
    data = json.loads(json.dumps(run.to_dict()))
    assert [c["expectation"] for c in data["checks"]][:2] == ["expected", "new"]

