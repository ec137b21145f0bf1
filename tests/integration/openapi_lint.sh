#!/usr/bin/env bash
# openapi_lint.sh - proto/openapi.yaml passes `redocly lint` (Redocly's
# recommended rules, proto/redocly.yaml) with no error and no warning.
# Needs the Redocly CLI (npm @redocly/cli): `redocly` on PATH, or REDOCLY
# naming the program; skips otherwise (it is not installed by make deps).
set -u
cd "$(dirname "$0")/../.."
REDOCLY=${REDOCLY:-$(command -v redocly || true)}
[ -n "$REDOCLY" ] && [ -x "$REDOCLY" ] ||
    { echo "skipped: the Redocly CLI is not installed (npm install @redocly/cli; REDOCLY=path)"; exit 77; }
command -v node >/dev/null || { echo "skipped: node is not installed"; exit 77; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 300 "$REDOCLY" lint --config proto/redocly.yaml proto/openapi.yaml >"$out" 2>&1
rc=$?
if [ $rc -ne 0 ] || grep -q "You have [0-9]* warning" "$out"; then
    grep -v '[║╔╚]' "$out" | tail -40
    echo "FAIL: redocly lint (exit $rc)"
    exit 1
fi
grep -q "Your API description is valid" "$out" || { cat "$out"; echo "FAIL: no verdict"; exit 1; }
echo "redocly lint: valid, no warnings"
