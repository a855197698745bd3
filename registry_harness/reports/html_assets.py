"""The inline style and script of report.html: the page stays one file that works offline.

Badges and cards use separate class names (``b-<status>`` and ``s-<status>``) so a badge's colour
never leaks onto the card around it. The script only filters what is already on the page.
"""

CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--error:#8250df;--skip:#44689e;--disabled:#6e7781;--warn:#bf8700;
--notrun:#57606a;--line:#d8dde6;--muted:#57606a}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#1d2330;background:#fff;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid var(--line);padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid var(--line);padding:.25em .6em;text-align:left;
vertical-align:top}th{background:#f3f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;color:#1d2330;border:1px solid #e1e4e8;padding:.6em;overflow-x:auto;white-space:pre-wrap;
word-break:break-all;font-size:12.5px}
code{font-size:12.5px;background:#f3f5f9;padding:0 .3em;border-radius:3px;word-break:break-all}
.badge{display:inline-block;border-radius:3px;padding:0 .45em;font-weight:600;font-size:.85em;color:#fff;
white-space:nowrap}
.b-pass{background:var(--pass)}.b-fail{background:var(--fail)}.b-error{background:var(--error)}
.b-skip{background:var(--skip)}.b-disabled{background:var(--disabled)}.b-warn{background:var(--warn)}
.b-not-run{background:var(--notrun)}.b-expected{background:#fff;color:#1d2330;border:1px solid #8c959f}
.b-stale,.b-new{background:#fff;color:var(--fail);border:1px solid var(--fail)}
.verdict{font-size:1.1em;padding:.2em .7em}.muted{color:var(--muted)}
.line{font-weight:600;margin:.4em 0}
.card{border:1px solid var(--line);border-left:5px solid var(--line);border-radius:4px;margin:.6em 0;
padding:.45em .9em;background:#fff;color:#1d2330}
.card.s-pass{border-left-color:var(--pass)}.card.s-warn{border-left-color:var(--warn)}
.card.s-fail{border-left-color:var(--fail)}.card.s-error{border-left-color:var(--error)}
.card.s-skip{border-left-color:var(--skip)}.card.s-disabled,.card.s-not-run{border-left-color:var(--disabled)}
.card.x-expected{border-left-style:dashed}
.card h3{margin:.15em 0;font-size:1.02em;font-weight:600}
.meta{color:var(--muted);font-size:.9em}.meta b{color:#1d2330;font-weight:600}
details{margin:.3em 0}summary{cursor:pointer;color:#0969da}
.filters{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:.5em 0;z-index:1;
display:flex;flex-wrap:wrap;gap:.4em 1em;align-items:center}
.filters label{white-space:nowrap}.filters input[type=search]{min-width:16em;padding:.2em .4em}
.chart{display:grid;grid-template-columns:max-content 1fr max-content;gap:.25em .6em;align-items:center;
max-width:760px}
.bar{display:flex;height:14px;border-radius:3px;overflow:hidden;background:#eef1f5}
.bar span{display:block;height:100%}
.seg-pass{background:var(--pass)}.seg-warn{background:var(--warn)}.seg-fail{background:var(--fail)}
.seg-error{background:var(--error)}.seg-skip{background:var(--skip)}.seg-disabled{background:var(--disabled)}
.seg-not-run{background:var(--notrun)}
.legend span{margin-right:1em}.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;
border-radius:2px;vertical-align:-1px}
.hidden{display:none}
"""

SCRIPT = """
(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input.f-status'));
  var area = document.getElementById('f-area');
  var search = document.getElementById('f-q');
  var shown = document.getElementById('f-shown');
  function apply() {
    var statuses = {};
    boxes.forEach(function (box) { statuses[box.value] = box.checked; });
    var wanted = area.value, words = search.value.toLowerCase().split(/\\s+/).filter(Boolean), count = 0;
    cards.forEach(function (card) {
      var text = card.getAttribute('data-text');
      var ok = statuses[card.getAttribute('data-status')] &&
        (!wanted || card.getAttribute('data-area') === wanted) &&
        words.every(function (w) { return text.indexOf(w) >= 0; });
      card.classList.toggle('hidden', !ok);
      if (ok) { count += 1; }
    });
    shown.textContent = count + ' of ' + cards.length + ' checks shown';
  }
  function fromHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    if (params.has('status')) {
      var wanted = params.get('status').split(',');
      boxes.forEach(function (box) { box.checked = wanted.indexOf(box.value) >= 0; });
    }
    if (params.has('area')) { area.value = params.get('area'); }
    if (params.has('q')) { search.value = params.get('q'); }
  }
  boxes.forEach(function (box) { box.addEventListener('change', apply); });
  area.addEventListener('change', apply);
  search.addEventListener('input', apply);
  fromHash();
  apply();
})();
"""
