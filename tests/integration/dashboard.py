"""dashboard.py BASE TOKEN SHOTS_DIR [empty] - drives the dashboard of a running
recserve in headless Chromium (tests/integration/dashboard.sh sets it up:
variant "default" at version 3 with versions 1 and 2 retained, variant
"candidate", an experiment between them, and an admin token).

Checks that every panel shows the server's own values, that a rollback
through the page changes the version the server answers with, and that the
page logs no console error or exception. Saves a screenshot per panel.
With "empty" (a server whose configured variants are not published yet),
checks instead that the page says so and what to do, without errors.
Exit status 0 when every check passed, 1 otherwise (each failure printed).
"""

import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from cdp import Browser, BrowserError  # noqa: E402

BASE, TOKEN, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def get(path):
    with urllib.request.urlopen(BASE + path, timeout=10) as r:
        return r.status, dict(r.headers), r.read()


def served_version():
    _, headers, _ = get("/v1/users/u1/recommendations?n=3&variant=default")
    return headers.get("X-Recsys-Version")


def text(b, selector):
    return b.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        " return e ? e.textContent.trim() : null; })()")


def set_value(b, selector, value):
    b.evaluate(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")


def click(b, selector):
    b.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


def shot(b, name, selector=None):
    """A screenshot of one panel (the sticky header moved out of the way)
    or, without selector, of the viewport at the top of the page."""
    path = os.path.join(SHOTS, name)
    if selector:
        b.evaluate("document.querySelector('header').style.position = 'static'")
        b.screenshot(path, selector)
        b.evaluate("document.querySelector('header').style.position = ''")
    else:
        b.evaluate("window.scrollTo(0, 0)")
        b.screenshot(path)


def run(b):
    models = json.loads(get("/v1/models")[2])
    default = next(m for m in models["models"] if m["variant"] == "default")

    b.navigate(BASE + "/dashboard")
    title = b.evaluate("document.title")
    check(title == "recserve dashboard", f"the page loads (title {title!r})")

    # Models: the version the server reports, the manifest, curves as charts.
    shown = b.wait("(() => { const e = document.querySelector('[data-version=\"default\"]');"
                   " return e && e.textContent; })()", what="the Models panel")
    check(shown == str(default["version"]),
          f"Models shows default's version {shown} (server: {default['version']})")
    points = b.evaluate("document.querySelectorAll('#models-body svg.chart polyline').length")
    check(points >= 2, f"Models draws training-curve charts ({points} lines)")
    rows = b.evaluate("document.querySelectorAll('[aria-label=\"retained versions of default\"] tbody tr').length")
    check(rows == 3, f"Models lists default's 3 retained versions ({rows} rows)")
    family = b.evaluate("document.querySelector('#models-body details pre').textContent")
    check('"family": "vae"' in family, "Models shows the manifest (family vae)")

    # Live: after two polls, a requests/s chart and per-route rows.
    b.wait("!!document.querySelector('#live-chart svg polyline, #live-chart svg circle')",
           timeout=15, what="the Live chart")
    live_rows = b.evaluate("[...document.querySelectorAll('#live-body table:first-of-type tbody tr')]"
                           ".map(r => r.cells[0].textContent)")
    check(any(r.startswith("/v1/") for r in live_rows),
          f"Live lists routes from /metrics ({', '.join(live_rows[:4])})")

    # Experiments: the configured experiment with per-variant shares.
    exp = b.wait("(() => { const t = document.querySelector('[aria-label=\"assignment shares of default-vs-candidate\"]');"
                 " return t && [...t.querySelectorAll('tbody tr')].map(r => r.cells[0].textContent + ' ' + r.cells[2].textContent); })()",
                 what="the Experiments panel")
    check(len(exp) == 2, f"Experiments shows both variants ({'; '.join(exp)})")
    report = json.loads(get("/v1/experiments/default-vs-candidate/report")[2])
    outcome = b.wait("(() => { const t = document.querySelector('[aria-label=\"outcomes of default-vs-candidate\"]');"
                     " return t && [...t.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.textContent)); })()",
                     timeout=15, what="the experiment's outcomes")
    want = [[str(v["users"]), str(v["converted_users"])] for v in report["variants"]]
    got = [[row[2], row[3]] for row in outcome]
    check(got == want and all(int(u) > 0 for u, _ in want),
          f"Experiments shows the outcomes per variant: users and converted {got} (report: {want}); "
          f"conversion {[row[4] for row in outcome]}, p-value {outcome[-1][8]}")

    # Try it: a known user's recommendations, the same as the API's answer.
    api_items = [it["id"] for it in json.loads(
        urllib.request.urlopen(urllib.request.Request(
            BASE + "/v1/recommend", data=json.dumps({"user": "u1", "n": 5, "variant": "default"}).encode(),
            headers={"Content-Type": "application/json"}), timeout=10).read())["items"]]
    b.evaluate("document.getElementById('try').scrollIntoView()")
    set_value(b, "#try-user", "u1")
    set_value(b, "#try-n", "5")
    set_value(b, "#try-variant", "default")
    click(b, "#try-submit")
    page_items = b.wait("(() => { const c = document.querySelectorAll('#try-result td[data-item]');"
                        " return c.length && [...c].map(e => e.textContent); })()", what="try-it results")
    check(page_items == api_items, f"Try it lists user u1's items {page_items} (API: {api_items})")
    shown_attrs = b.evaluate("[...document.querySelectorAll('#try-result td.attrs')].map(e => e.textContent)")
    want_attrs = []
    for item in api_items:
        a = json.loads(get("/v1/items/%s?variant=default" % item)[2])
        want_attrs.append("; ".join([", ".join(a["categories"])] +
                                    ["%s %.2f" % kv for kv in a["fields"].items()]) if a["described"] else "–")
    check(shown_attrs == want_attrs, f"Try it shows the catalogue's attributes {shown_attrs[:2]} (API: {want_attrs[:2]})")
    answered = text(b, "#try-answered") or ""
    check(f"version {default['version']}" in answered, f"Try it names the answering version ({answered})")
    shot(b, "dashboard-try.png", "#try")
    click(b, "#try-result button.secondary")  # "similar" of the first item
    similar = b.wait("(() => { const h = document.querySelector('#try-result h3');"
                     " return h && h.textContent.startsWith('Items similar') &&"
                     " document.querySelectorAll('#try-result td[data-item]').length; })()",
                     what="similar items")
    check(similar >= 1, f"Try it shows {similar} items similar to {page_items[0]}")

    # Admin: no pin buttons without the token; with it, roll back and forth.
    check(b.evaluate("document.querySelectorAll('[data-pin]').length") == 0,
          "no pin buttons before the token is entered")
    set_value(b, "#admin-token", TOKEN)
    click(b, "#token-use")
    b.wait("!!document.querySelector('[data-pin=\"default:1\"]')", what="the pin buttons")
    shot(b, "dashboard-models.png", "#models")
    before = served_version()
    clicked = time.time()
    click(b, "[data-pin=\"default:1\"]")
    b.wait("(() => { const e = document.querySelector('[data-version=\"default\"]');"
           " return e && e.textContent === '1'; })()", what="version 1 on the page after the pin")
    after, lag = served_version(), time.time() - clicked
    check(before == str(default["version"]) and after == "1",
          f"rollback through the page: X-Recsys-Version {before} -> {after} ({lag:.2f} s after the click)")
    check("pinned to version 1" in (text(b, "#admin-result") or ""), "the page says the variant is pinned")
    shot(b, "dashboard-admin.png", "#admin")
    click(b, "#unpin-default")
    b.wait(f"(() => {{ const e = document.querySelector('[data-version=\"default\"]');"
           f" return e && e.textContent === '{default['version']}'; }})()", what="the current version after the unpin")
    check(served_version() == str(default["version"]),
          f"unpin through the page: X-Recsys-Version back to {default['version']}")

    time.sleep(3.5)  # one more Live poll, so the screenshots show rates
    shot(b, "dashboard-live.png", "#live")
    shot(b, "dashboard-experiments.png", "#experiments")
    shot(b, "dashboard.png")


def run_empty(b):
    b.navigate(BASE + "/dashboard")
    said = b.wait("(() => { const e = document.querySelector('#models-body p');"
                  " return e && e.textContent.startsWith('No model is loaded') && e.textContent; })()",
                  what="the no-model message")
    check("rectrain" in said, f"with no model loaded, Models says what to do ({said[:90]}...)")
    status = text(b, "#status")
    check(status == "no model loaded", f"the status line says {status!r}")
    b.wait("!!document.querySelector('#live-chart svg')", timeout=15, what="the Live chart")
    routes = b.evaluate("[...document.querySelectorAll('#live-body table:first-of-type tbody tr')]"
                        ".map(r => r.cells[0].textContent)")
    check("/v1/models" in routes, f"Live still charts the server's requests ({', '.join(routes[:3])})")
    shot(b, "dashboard-empty.png")


def main():
    os.makedirs(SHOTS, exist_ok=True)
    try:
        with Browser() as b:
            try:
                run_empty(b) if sys.argv[4:] == ["empty"] else run(b)
            except BrowserError as e:
                check(False, str(e))
                for panel in ("live", "experiments", "try-result", "admin-result"):
                    print(f"  #{panel}: " + (b.evaluate(
                        f"(document.getElementById('{panel}') || {{}}).textContent") or "")[:300])
            check(not b.errors, "no console errors or exceptions" +
                  ("" if not b.errors else ": " + " | ".join(b.errors[:5])))
    except BrowserError as e:
        check(False, "browser: " + str(e))
    print(f"screenshots in {SHOTS}")
    sys.exit(1 if failures else 0)


main()
