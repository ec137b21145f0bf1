"""contract.py - checks answers of a live recserve against proto/openapi.yaml
(for server_contract.sh).

Usage: python3 contract.py SPEC BASE COVERED PHASE [TOKEN]
Runs the phase's cases (a request meant to produce one documented status
of one operation), checks each answer's status, Content-Type, documented
headers and body schema, and appends "METHOD PATH STATUS" of each checked
answer to COVERED. `python3 contract.py SPEC - COVERED coverage` then fails
for every documented answer no phase produced, but those listed in
NOT_PRODUCED with the reason. Prints one line per failure; exit 1 on any.
"""
import json
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml

SPEC, BASE, COVERED, PHASE = sys.argv[1:5]
TOKEN = sys.argv[5] if len(sys.argv) > 5 else ""
doc = yaml.safe_load(open(SPEC))
JSON = {"Content-Type": "application/json"}

# Documented answers no scenario can produce on purpose.
NOT_PRODUCED = {
    ("POST", "/v1/admin/reload", "202"): "a reload that takes longer than 30 s",
    ("POST", "/v1/admin/pin", "422"): "a retained version that fails validation (tests/integration/ops_pin.sh pins one)",
    ("POST", "/v1/admin/pin", "503"): "a reload check that takes longer than 30 s",
    ("POST", "/v1/admin/unpin", "503"): "a reload check that takes longer than 30 s",
}


def resolve(node):
    """The node with every local $ref inlined and OpenAPI's nullable turned
    into JSON Schema."""
    if isinstance(node, list):
        return [resolve(x) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return resolve(target)
    out = {k: resolve(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


# (phase, documented method, path pattern, method sent, url, body, headers,
# status): a 405 case sends another method to a documented operation.
def cases(item):
    auth = {"Authorization": "Bearer " + TOKEN}
    big = json.dumps({"history": ["x" * 100] * 100})
    return [
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","n":3}', JSON, 200),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"history":["%s"]}' % item, JSON, 200),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", "{", JSON, 400),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","variant":"nope"}', JSON, 404),
        ("main", "POST", "/v1/recommend", "PUT", "/v1/recommend", None, {}, 405),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", big, JSON, 413),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1"}', {"Content-Type": "text/plain"}, 415),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","n":0}', JSON, 422),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","n":3,"offset":3,"filter":{"categories":{"any":["a","b"],"none":["zz"]},"ranges":{"price":{"min":5,"max":40}},"deny":["%s"]}}' % item, JSON, 200),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","n":300,"filter":{"allow":["%s","nope"]}}' % item, JSON, 200),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","n":4,"mode":"sample","temperature":0.5,"seed":3}', JSON, 200),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","n":4,"explain":true}', JSON, 200),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","filter":{"ranges":{"nope":{"min":1}}}}', JSON, 400),
        ("main", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1","filter":{"ranges":{"price":{"min":5,"max":1}}}}', JSON, 422),
        ("main", "POST", "/v1/recommend/batch", "POST", "/v1/recommend/batch", '{"queries":[{"user":"u1","n":3},{"history":["%s"],"explain":true},{"user":"u1","variant":"nope"},{"user":"u1","filter":{"ranges":{"nope":{}}}}]}' % item, JSON, 200),
        ("main", "POST", "/v1/recommend/batch", "POST", "/v1/recommend/batch", '{"queries":[{"user":"u1","n":"x"}]}', JSON, 400),
        ("main", "POST", "/v1/recommend/batch", "GET", "/v1/recommend/batch", None, {}, 405),
        ("main", "POST", "/v1/recommend/batch", "POST", "/v1/recommend/batch", json.dumps({"queries": [{"history": ["x" * 100] * 100}]}), JSON, 413),
        ("main", "POST", "/v1/recommend/batch", "POST", "/v1/recommend/batch", '{"queries":[]}', {"Content-Type": "text/plain"}, 415),
        ("main", "POST", "/v1/recommend/batch", "POST", "/v1/recommend/batch", '{"queries":[]}', JSON, 422),
        ("main", "GET", "/v1/items/{id}", "GET", "/v1/items/%s" % item, None, {}, 200),
        ("main", "GET", "/v1/items/{id}", "GET", "/v1/items/%s?variant=%%zz" % item, None, {}, 400),
        ("main", "GET", "/v1/items/{id}", "GET", "/v1/items/no-such-item", None, {}, 404),
        ("main", "GET", "/v1/items/{id}", "POST", "/v1/items/%s" % item, None, {}, 405),
        ("main", "GET", "/v1/items/{id}/similar", "GET", "/v1/items/%s/similar?n=3&offset=2&filter=%%7B%%22categories%%22%%3A%%7B%%22any%%22%%3A%%5B%%22a%%22%%5D%%7D%%7D" % item, None, {}, 200),
        ("main", "GET", "/v1/users/{id}/recommendations", "GET", "/v1/users/u1/recommendations?n=3", None, {}, 200),
        ("main", "GET", "/v1/users/{id}/recommendations", "GET", "/v1/users/u1/recommendations?filter_history=maybe", None, {}, 400),
        ("main", "GET", "/v1/users/{id}/recommendations", "GET", "/v1/users/u1/recommendations?variant=nope", None, {}, 404),
        ("main", "GET", "/v1/users/{id}/recommendations", "POST", "/v1/users/u1/recommendations", None, {}, 405),
        ("main", "GET", "/v1/users/{id}/recommendations", "GET", "/v1/users/u1/recommendations?n=0", None, {}, 422),
        ("main", "GET", "/v1/items/{id}/similar", "GET", "/v1/items/%s/similar?n=3" % item, None, {}, 200),
        ("main", "GET", "/v1/items/{id}/similar", "GET", "/v1/items/%s/similar?n=x" % item, None, {}, 400),
        ("main", "GET", "/v1/items/{id}/similar", "GET", "/v1/items/no-such-item/similar", None, {}, 404),
        ("main", "GET", "/v1/items/{id}/similar", "DELETE", "/v1/items/%s/similar" % item, None, {}, 405),
        ("main", "GET", "/v1/items/{id}/similar", "GET", "/v1/items/%s/similar?n=0" % item, None, {}, 422),
        ("main", "GET", "/v1/models", "GET", "/v1/models", None, {}, 200),
        ("main", "GET", "/v1/models", "POST", "/v1/models", None, {}, 405),
        ("main", "GET", "/healthz", "GET", "/healthz", None, {}, 200),
        ("main", "GET", "/healthz", "POST", "/healthz", None, {}, 405),
        ("main", "GET", "/readyz", "GET", "/readyz", None, {}, 200),
        ("main", "GET", "/readyz", "POST", "/readyz", None, {}, 405),
        ("main", "GET", "/v1/users/{id}/assignment", "GET", "/v1/users/u1/assignment", None, {}, 200),
        ("main", "GET", "/v1/users/{id}/assignment", "GET", "/v1/users/%ff/assignment", None, {}, 400),
        ("main", "GET", "/v1/users/{id}/assignment", "POST", "/v1/users/u1/assignment", None, {}, 405),
        ("main", "POST", "/v1/admin/reload", "POST", "/v1/admin/reload", None, auth, 200),
        ("main", "POST", "/v1/admin/reload", "POST", "/v1/admin/reload", None, {}, 401),
        ("main", "POST", "/v1/admin/reload", "GET", "/v1/admin/reload", None, auth, 405),
        ("main", "POST", "/v1/admin/pin", "POST", "/v1/admin/pin", '{"variant":"default","version":1}', {**JSON, **auth}, 200),
        ("main", "POST", "/v1/admin/pin", "POST", "/v1/admin/pin", '{"variant":"default"}', {**JSON, **auth}, 400),
        ("main", "POST", "/v1/admin/pin", "POST", "/v1/admin/pin", '{"variant":"default","version":1}', JSON, 401),
        ("main", "POST", "/v1/admin/pin", "POST", "/v1/admin/pin", '{"variant":"default","version":99}', {**JSON, **auth}, 404),
        ("main", "POST", "/v1/admin/pin", "GET", "/v1/admin/pin", None, auth, 405),
        ("main", "POST", "/v1/admin/pin", "POST", "/v1/admin/pin", '{"variant":"default","version":1}', {"Content-Type": "text/plain", **auth}, 415),
        ("main", "GET", "/v1/models/{variant}/versions", "GET", "/v1/models/default/versions", None, {}, 200),
        ("main", "GET", "/v1/models/{variant}/versions", "GET", "/v1/models/nosuch/versions", None, {}, 404),
        ("main", "GET", "/v1/models/{variant}/versions", "POST", "/v1/models/default/versions", None, {}, 405),
        ("main", "POST", "/v1/admin/unpin", "POST", "/v1/admin/unpin", '{"variant":"default"}', {**JSON, **auth}, 200),
        ("main", "POST", "/v1/admin/unpin", "POST", "/v1/admin/unpin", '{"variant":1}', {**JSON, **auth}, 400),
        ("main", "POST", "/v1/admin/unpin", "POST", "/v1/admin/unpin", '{"variant":"default"}', JSON, 401),
        ("main", "POST", "/v1/admin/unpin", "POST", "/v1/admin/unpin", '{"variant":"nosuch"}', {**JSON, **auth}, 404),
        ("main", "POST", "/v1/admin/unpin", "GET", "/v1/admin/unpin", None, auth, 405),
        ("main", "POST", "/v1/admin/unpin", "POST", "/v1/admin/unpin", '{"variant":"default"}', {"Content-Type": "text/plain", **auth}, 415),
        ("main", "POST", "/v1/events", "POST", "/v1/events", '{"events":[{"user":"u1","item":"%s","type":"click"}]}' % item, JSON, 200),
        ("main", "POST", "/v1/events", "POST", "/v1/events", '{"events":{}}', JSON, 400),
        ("main", "POST", "/v1/events", "GET", "/v1/events", None, {}, 405),
        ("main", "POST", "/v1/events", "POST", "/v1/events", json.dumps({"events": [{"user": "u" * 100, "item": "i", "type": "click"}] * 60}), JSON, 413),
        ("main", "POST", "/v1/events", "POST", "/v1/events", '{"events":[]}', {"Content-Type": "text/plain"}, 415),
        ("main", "POST", "/v1/events", "POST", "/v1/events", '{"events":[{"user":"u1","item":"i1","type":"nope"}]}', JSON, 422),
        ("main", "GET", "/v1/experiments/{name}/report", "GET", "/v1/experiments/e/report", None, {}, 200),
        ("main", "GET", "/v1/experiments/{name}/report", "GET", "/v1/experiments/nosuch/report", None, {}, 404),
        ("main", "GET", "/v1/experiments/{name}/report", "POST", "/v1/experiments/e/report", None, {}, 405),
        ("plain", "POST", "/v1/events", "POST", "/v1/events", '{"events":[{"user":"u1","item":"i1","type":"click"}]}', JSON, 404),
        ("rated", "POST", "/v1/events", "POST", "/v1/events", '{"events":[{"user":"u1","item":"i1","type":"click"},{"user":"u1","item":"i2","type":"click"},{"user":"u1","item":"i3","type":"click"}]}', JSON, 503),
        ("rated", "POST", "/v1/events", "POST", "/v1/events", '{"events":[{"user":"u1","item":"i1","type":"click"},{"user":"u1","item":"i2","type":"click"}]}', JSON, 200),
        ("rated", "POST", "/v1/events", "POST", "/v1/events", '{"events":[{"user":"u1","item":"i1","type":"click"},{"user":"u1","item":"i2","type":"click"}]}', JSON, 429),
        ("main", "GET", "/metrics", "GET", "/metrics", None, {}, 200),
        ("main", "GET", "/dashboard", "GET", "/dashboard", None, {}, 200),
        ("main", "GET", "/dashboard", "POST", "/dashboard", None, {}, 405),
        ("main", "GET", "/dashboard/{file}", "GET", "/dashboard/dashboard.js", None, {}, 200),
        ("main", "GET", "/dashboard/{file}", "GET", "/dashboard/dashboard.css", None, {}, 200),
        ("main", "GET", "/dashboard/{file}", "GET", "/dashboard/nosuch.js", None, {}, 404),
        ("main", "GET", "/dashboard/{file}", "DELETE", "/dashboard/dashboard.js", None, {}, 405),
        ("main", "GET", "/metrics", "POST", "/metrics", None, {}, 405),
        ("plain", "POST", "/v1/admin/reload", "POST", "/v1/admin/reload", None, {}, 403),
        ("plain", "POST", "/v1/admin/pin", "POST", "/v1/admin/pin", '{"variant":"default","version":1}', JSON, 403),
        ("plain", "POST", "/v1/admin/unpin", "POST", "/v1/admin/unpin", '{"variant":"default"}', JSON, 403),
        ("truncated", "POST", "/v1/recommend", "POST", "/v1/recommend", '{"user":"u1"}', JSON, 503),
        ("truncated", "GET", "/v1/users/{id}/recommendations", "GET", "/v1/users/u1/recommendations", None, {}, 503),
        ("truncated", "GET", "/v1/items/{id}/similar", "GET", "/v1/items/%s/similar" % item, None, {}, 503),
        ("truncated", "GET", "/readyz", "GET", "/readyz", None, {}, 503),
        ("truncated", "GET", "/v1/items/{id}", "GET", "/v1/items/%s" % item, None, {}, 503),
    ]


def fetch(method, url, body, headers):
    data = body.encode() if body is not None else None
    req = urllib.request.Request(BASE + url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def check(op_method, path, method, url, body, headers, want):
    op = doc["paths"][path][op_method.lower()]
    documented = op["responses"].get(str(want))
    if documented is None:
        return "%s %s: status %d is not documented" % (op_method, path, want)
    documented = resolve(documented)
    status, got_headers, raw = fetch(method, url, body, headers)
    if status != want:
        return "%s %s: status %d, expected %d: %r" % (method, url, status, want, raw[:120])
    lower = {k.lower(): v for k, v in got_headers.items()}
    for name in documented.get("headers", {}):
        if name.lower() not in lower:
            return "%s %s %d: documented header %s is missing" % (method, url, want, name)
    content = documented.get("content", {})
    ctype = lower.get("content-type", "").split(";")[0].strip()
    if ctype not in content:
        return "%s %s %d: Content-Type %r, documented %s" % (method, url, want, ctype, list(content))
    if ctype == "application/json":
        try:
            value = json.loads(raw)
        except ValueError:
            return "%s %s %d: not JSON: %r" % (method, url, want, raw[:120])
        try:
            jsonschema.validate(value, content[ctype]["schema"])
        except jsonschema.ValidationError as e:
            return "%s %s %d: %s (at %s)" % (method, url, want, e.message[:200], list(e.path))
    return None


def main():
    failures = []
    if PHASE == "coverage":
        covered = set(tuple(line.split()) for line in open(COVERED))
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                for status in op["responses"]:
                    key = (method.upper(), path, str(status))
                    if key not in covered and key not in NOT_PRODUCED:
                        failures.append("%s %s %s: documented, never produced" % key)
    else:
        item = sys.argv[6] if len(sys.argv) > 6 else "i1"
        with open(COVERED, "a") as out:
            for phase, op_method, path, method, url, body, headers, want in cases(item):
                if phase != PHASE:
                    continue
                why = check(op_method, path, method, url, body, headers, want)
                if why:
                    failures.append(why)
                else:
                    out.write("%s %s %d\n" % (op_method, path, want))
    for f in failures:
        print("FAIL " + f)
    sys.exit(1 if failures else 0)


main()
