#!/usr/bin/env bash
# server_options.sh - the option table as the binary sees it: the settings
# reference in etc/README.md is exactly `recserve --help-markdown` (with
# UPDATE=1 the script rewrites it instead), --help lists every option, and
# config-file settings are checked like options (types, bounds, unknown
# keys) with the command line overriding the file.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
: >"$T/server.log" # finish() shows it; no server runs here

BEGIN='<!-- BEGIN recserve --help-markdown'
END='<!-- END recserve --help-markdown -->'
README=etc/README.md
"$RECSERVE" --help-markdown >"$T/table.md" || fail "--help-markdown failed"
grep -q "^$BEGIN" "$README" && grep -qxF -- "$END" "$README" || fail "$README lacks the markers"
# The lines between the markers.
awk -v b="$BEGIN" -v e="$END" 'index($0, e) == 1 { inside = 0 } inside { print }
    index($0, b) == 1 { inside = 1 }' "$README" >"$T/readme.md"
if [ "${UPDATE:-}" = 1 ]; then
    awk -v b="$BEGIN" -v e="$END" -v table="$T/table.md" '
        index($0, e) == 1 { inside = 0 }
        !inside { print }
        index($0, b) == 1 { inside = 1; while ((getline line < table) > 0) print line }' \
        "$README" >"$T/README.new" && cp "$T/README.new" "$README"
    echo "rewrote the option table in $README"
elif ! diff -u "$T/readme.md" "$T/table.md" >"$T/diff"; then
    fail "$README differs from recserve --help-markdown (UPDATE=1 bash $0 rewrites it):"
    cat "$T/diff"
fi

# --help lists every option of the table.
"$RECSERVE" --help >"$T/help" || fail "--help failed"
for opt in $(grep -oE '^\| `(-h, )?--[a-z-]+' "$T/table.md" | grep -oE -- '--[a-z-]+'); do
    grep -qe "$opt" "$T/help" || fail "--help does not list $opt"
done
[ "$(wc -l <"$T/table.md")" -gt 20 ] || fail "the option table has too few rows"

config() { printf '%s\n' "$1" >"$T/c.json"; }

# File values go through the same bounds as the options.
config '{"store":"none","threads":0}'
run_fails 2 '"threads" must be an integer in 1..1024' --config "$T/c.json"
run_fails 2 '--threads 0: out of range \(expected 1\.\.1024\)' --store none --threads 0
config '{"store":"none","reload":{"interval_seconds":0.001}}'
run_fails 2 '"reload.interval_seconds": 0.001 is too short' --config "$T/c.json"
run_fails 2 '--reload-interval 0.001: at least 0.01' --store none --reload-interval 0.001
config '{"store":"none","reload":{"verify":"no"}}'
run_fails 2 '"reload.verify" must be true or false' --config "$T/c.json"
config '{"store":"none","max_body":1024}'
run_fails 2 'unknown field "max_body"' --config "$T/c.json"
config '{"store":"none","reload":{"interval":1}}'
run_fails 2 'reload: unknown field "interval" \(known fields: verify, interval_seconds\)' \
    --config "$T/c.json"

# The command line overrides the file: a bad listen address in the file is
# not used when --listen replaces it, and --store replaces the file's store.
config '{"store":"from-file","listen":"127.0.0.1:notaport"}'
run_fails 2 'the port must be a number' --config "$T/c.json"
run_fails 1 "$T/from-cli" --config "$T/c.json" --listen 127.0.0.1:0 --store "$T/from-cli"
# The file's relative store is taken relative to the file.
config '{"store":"from-file"}'
run_fails 1 "$T/from-file" --config "$T/c.json" --listen 127.0.0.1:0
finish
