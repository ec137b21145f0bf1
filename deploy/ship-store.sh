#!/usr/bin/env bash
# ship-store.sh - ships a snapshot store to a replica host, so that replicas on
# many hosts serve the same versions (same version numbers, same bytes).
#
#   deploy/ship-store.sh [options] SOURCE_STORE [USER@HOST:]STORE_LINK
#
#   SOURCE_STORE  the store rectrain publishes into (may be in use)
#   STORE_LINK    the path the replicas on the target open with --store (or
#                 "store" in their config); it becomes a symbolic link to the
#                 shipped copy. Without HOST: the local host.
#
# Options:
#   --keep N        shipped copies to keep on the target, the live one
#                   included (default 2; older ones are deleted)
#   --ssh "OPTS"    extra ssh options (e.g. "-p 2222 -i key")
#   --dry-run       make the local copy and print what would be done
#
# Steps:
#   1. mdb_copy -c: a consistent, compacted copy of the source taken inside one
#      read transaction - safe while rectrain publishes (it sees the versions
#      committed before the copy started, never half of a publish);
#   2. transfer into a temporary directory beside STORE_LINK on the target
#      (tar over ssh, or a local copy) and compare SHA-256 checksums;
#   3. rename the directory to its final name STORE_LINK.<UTC time>, then point
#      STORE_LINK at it by renaming a new symbolic link over the old one
#      (rename(2) is atomic: a replica opening the path sees the old store or
#      the new one, never a partial one);
#   4. delete old copies beyond --keep.
#
# Running replicas notice within their reload interval that STORE_LINK names
# another directory, open it, reload every variant from it and close the old
# store once no request uses it (or at once on SIGHUP / POST
# /v1/admin/reload). Deleting an old copy a replica still has open is safe:
# its files live on until the replica closes them.
#
# The first time, STORE_LINK may not exist (it is created) or be a real
# directory: then it is refused, with the one-time conversion to a link.
# The target needs mdb_copy only on the source side; on the target: sh, tar,
# sha256sum, mv -T (GNU coreutils). Exit status: 0 shipped, 1 failed, 2 usage.
set -euo pipefail

KEEP=2
SSH_OPTS=
DRY_RUN=
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --keep) KEEP=${2:?}; shift 2 ;;
    --ssh) SSH_OPTS=${2:?}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage ;;
    --) shift; break ;;
    -*) echo "ship-store: unknown option $1" >&2; usage ;;
    *) break ;;
    esac
done
[ $# -eq 2 ] || usage
SRC=$1
TARGET=$2
case $KEEP in '' | *[!0-9]* | 0) echo "ship-store: --keep needs a number >= 1" >&2; exit 2 ;; esac

HOST=
DEST=$TARGET
# HOST:PATH (scp style); a path with a slash before any colon is local.
case $TARGET in
*:*) case ${TARGET%%:*} in */*) ;; *) HOST=${TARGET%%:*}; DEST=${TARGET#*:} ;; esac ;;
esac
case $DEST in
/*) ;;
*) [ -z "$HOST" ] && DEST=$PWD/$DEST ;;
esac
DEST=${DEST%/}
[ -n "$DEST" ] && [ "$DEST" != / ] || { echo "ship-store: bad target $TARGET" >&2; exit 2; }

command -v mdb_copy >/dev/null || { echo "ship-store: mdb_copy is missing (Debian: lmdb-utils)" >&2; exit 1; }
[ -f "$SRC/data.mdb" ] || { echo "ship-store: $SRC is not a store (no data.mdb)" >&2; exit 1; }

# remote CMD...: runs a shell command on the target (locally without HOST).
remote() {
    if [ -n "$HOST" ]; then
        # shellcheck disable=SC2086
        ssh $SSH_OPTS -- "$HOST" "$*"
    else
        sh -c "$*"
    fi
}
q() { printf '%q' "$1"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ship-store.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/copy"
mdb_copy -c "$SRC" "$WORK/copy"
SUM=$(sha256sum "$WORK/copy/data.mdb" | cut -d' ' -f1)
SIZE=$(stat -c %s "$WORK/copy/data.mdb")
STAMP=$(date -u +%Y%m%dT%H%M%S.%NZ)
NAME=$(basename "$DEST").$STAMP
DIR=$(dirname "$DEST")
echo "ship-store: consistent copy of $SRC: $SIZE bytes, sha256 $SUM"
if [ -n "$DRY_RUN" ]; then
    echo "ship-store: would ship it to ${HOST:+$HOST:}$DIR/$NAME and point $DEST at it (keep $KEEP)"
    exit 0
fi

# 1. A temporary directory on the target, on the same file system as the link.
INCOMING=$(remote "mkdir -p $(q "$DIR") && mktemp -d $(q "$DIR")/.incoming.XXXXXX")
cleanup_remote() { remote "rm -rf $(q "$INCOMING")" || true; }
trap 'cleanup_remote; rm -rf "$WORK"' EXIT

# 2. Transfer and check.
if [ -n "$HOST" ]; then
    # shellcheck disable=SC2086
    tar -C "$WORK/copy" -cf - data.mdb | ssh $SSH_OPTS -- "$HOST" "tar -C $(q "$INCOMING") -xf -"
else
    cp "$WORK/copy/data.mdb" "$INCOMING/data.mdb"
fi
GOT=$(remote "sha256sum $(q "$INCOMING/data.mdb")" | cut -d' ' -f1)
if [ "$GOT" != "$SUM" ]; then
    echo "ship-store: checksum mismatch after the transfer ($GOT, expected $SUM)" >&2
    exit 1
fi

# 3. Final name, then swap the link atomically. 4. Prune old copies.
remote "set -e
    cd $(q "$DIR")
    base=$(q "$(basename "$DEST")")
    if [ -e \"\$base\" ] && [ ! -L \"\$base\" ]; then
        echo \"ship-store: $DEST is a directory, not a symbolic link. Convert it once (safe while replicas run):\" >&2
        echo \"  mv $DEST $DEST.initial && ln -s \$base.initial $DEST\" >&2
        exit 1
    fi
    chmod 755 $(q "$INCOMING")
    mv $(q "$INCOMING") $(q "$NAME")
    ln -s $(q "$NAME") .\$base.link.\$\$
    mv -T .\$base.link.\$\$ \"\$base\"
    ls -1d \"\$base\".2*Z 2>/dev/null | sort -r | tail -n +$((KEEP + 1)) | while read -r old; do
        [ \"\$old\" = $(q "$NAME") ] || rm -rf -- \"\$old\"
    done"
trap 'rm -rf "$WORK"' EXIT
echo "ship-store: ${HOST:+$HOST:}$DEST -> $NAME"
