#!/usr/bin/env bash
# tests/walls.sh - proves the layer walls of the build hold (run by
# `make check-walls`, which `make test` runs first; the Makefile passes the
# compiler, its flags and each layer's include path):
#
#   1. includes: under each layer's flags, a probe that includes a header of
#      a layer it must not see fails to compile (core sees no trainer/ or
#      server/ header; trainer/ no server/ header; server/ no trainer/
#      header), and a probe that includes its own layer's header compiles;
#   2. no source reaches around the include path with a path ("../x.h",
#      "core/x.h");
#   3. links: recserve defines no symbol of librectrain, rectrain none of
#      librecserve, and librecsys references no HTTP (MHD_*) and no
#      command-line parsing (getopt*).
#
# Prints one line per check and "walls: N checks, all hold", or the broken
# wall, exiting 1.
set -u
cd "$(dirname "$0")/.." || exit 1
: "${CC:=cc}" "${CFLAGS:=}" "${BUILD:=build}" "${BINDIR:=bin}"
: "${LAYER_CORE:=-Icore}" "${LAYER_TRAINER:=-Icore -Itrainer}" "${LAYER_SERVER:=-Icore -Iserver}"
probe_dir=$BUILD/walls
mkdir -p "$probe_dir"
checks=0 broken=0

fail() {
    echo "walls: BROKEN: $*"
    broken=$((broken + 1))
}

# compiles LAYER_NAME "FLAGS" HEADER: 0 when a file including HEADER compiles.
# The probe lives in $probe_dir, which holds no header, so only the include
# path can find HEADER.
compiles() {
    local probe=$probe_dir/probe_$1.c
    printf '#include "%s"\nint rs_walls_probe;\n' "$3" >"$probe"
    # shellcheck disable=SC2086
    $CC $CFLAGS $2 -fsyntax-only "$probe" 2>"$probe_dir/probe_$1.log"
}

# must_not_see LAYER_NAME "FLAGS" DIR ALLOWED_DIRS...: every header of DIR
# (unless one of the same name exists in an allowed directory) must fail.
must_not_see() {
    local layer=$1 flags=$2 dir=$3
    shift 3
    local n=0 h base
    for h in "$dir"/*.h; do
        [ -f "$h" ] || continue
        base=$(basename "$h")
        local shadowed=0 d
        for d in "$@"; do [ -f "$d/$base" ] && shadowed=1; done
        [ $shadowed -eq 1 ] && continue
        checks=$((checks + 1))
        n=$((n + 1))
        if compiles "$layer" "$flags" "$base"; then
            fail "$layer code can include $dir/$base"
        elif ! grep -q "$base" "$probe_dir/probe_$layer.log"; then
            fail "probe of $dir/$base under $layer failed for another reason:" \
                "$(head -1 "$probe_dir/probe_$layer.log")"
        fi
    done
    echo "walls: $layer cannot include any of $n $dir/ headers"
}

# must_see LAYER_NAME "FLAGS" DIR: every header of DIR compiles on its own
# (the positive control: the probes fail for the wall, not for the probe).
must_see() {
    local layer=$1 flags=$2 dir=$3 n=0 h
    for h in "$dir"/*.h; do
        [ -f "$h" ] || continue
        checks=$((checks + 1))
        n=$((n + 1))
        compiles "$layer" "$flags" "$(basename "$h")" ||
            fail "$layer cannot include its own $h: $(head -1 "$probe_dir/probe_$layer.log")"
    done
    echo "walls: $layer includes each of its $n $dir/ headers"
}

must_see core "$LAYER_CORE" core
must_not_see core "$LAYER_CORE" trainer core
must_not_see core "$LAYER_CORE" server core
must_see trainer "$LAYER_TRAINER" trainer
must_not_see trainer "$LAYER_TRAINER" server core trainer
must_see server "$LAYER_SERVER" server
must_not_see server "$LAYER_SERVER" trainer core server

# 2. Paths in include lines would bypass the include path.
checks=$((checks + 1))
around=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*/)' \
    core/*.[ch] trainer/*.[ch] server/*.[ch] tests/*/*.[ch] bench/*.c 2>/dev/null)
if [ -n "$around" ]; then
    fail "include lines with a directory:"$'\n'"$around"
else
    echo "walls: no include line names a directory"
fi

# 3. Links. Defined global symbols of an archive must not appear in the
# program of the other layer.
defined() { nm --defined-only -g "$@" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBR]/ {print $3}' | sort -u; }
link_wall() {
    local program=$1 archive=$2
    [ -x "$program" ] || { echo "walls: $program not built, link wall not checked"; return; }
    checks=$((checks + 1))
    local leaked
    leaked=$(comm -12 <(defined "$program") <(defined "$archive") | head -5)
    if [ -n "$leaked" ]; then
        fail "$program links code of $archive: $(echo "$leaked" | tr '\n' ' ')"
    else
        echo "walls: $(basename "$program") links nothing of $(basename "$archive")"
    fi
}
link_wall "$BINDIR/recserve" "$BUILD/librectrain.a"
link_wall "$BINDIR/rectrain" "$BUILD/librecserve.a"

checks=$((checks + 1))
core_refs=$(nm -u "$BUILD/librecsys.a" 2>/dev/null | awk '{print $NF}' | grep -E '^(MHD_|getopt)' | sort -u)
if [ -n "$core_refs" ]; then
    fail "librecsys.a uses HTTP or command-line code: $(echo "$core_refs" | tr '\n' ' ')"
else
    echo "walls: librecsys.a references no MHD_* (HTTP) and no getopt* (command line)"
fi

if [ $broken -ne 0 ]; then
    echo "walls: $broken of $checks checks broken"
    exit 1
fi
echo "walls: $checks checks, all hold"
