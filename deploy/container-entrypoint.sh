#!/bin/sh
# container-entrypoint.sh - starts recserve in the image. The admin routes
# are enabled only when a token is mounted as a secret at
# $RECSYS_ADMIN_TOKEN_FILE (default /run/secrets/recsys_admin_token): an
# image started with no secrets serves with admin simply disabled. Other
# arguments are passed on (a mounted --config replaces the default one).
set -eu
token=${RECSYS_ADMIN_TOKEN_FILE:-/run/secrets/recsys_admin_token}
if [ -r "$token" ]; then
    exec "${RECSERVE:-/usr/local/bin/recserve}" --admin-token-file "$token" "$@"
fi
exec "${RECSERVE:-/usr/local/bin/recserve}" "$@"
