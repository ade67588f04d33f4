#!/usr/bin/env bash
# Validate tests/cloc/reference.py against Odoo's own measurements of the fixture addons
# (ent_e2.cloc_detail.json / ent_e2.cloc_param.txt, series 18) under CPython 3.10-3.13:
# 3.10/3.11 must give Odoo's 3.11 numbers exactly, 3.12/3.13 the same with
# acme_fleet_checkin = 204 (models/checkin.py 68/96, NOTES §7). Also a few rules of §5/§6/§10.
# A missing interpreter is a failure, never a skip.
#
# Usage: tests/cloc/check_reference.sh [FIXTURE_DIR]   (default /work/shared/fixtures/odoo-enterprise)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixture=${1:-/work/shared/fixtures/odoo-enterprise}
alias_rel=acme_fleet_checkin/static/src/js/checkin_alias.js

# The shared copy may have lost the symlink (a 10-byte file holding "checkin.js"):
# work on a copy where it is a real symlink again, as in Odoo's run.
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -a "$fixture/addons" "$tmp/addons"
chmod -R u+w "$tmp/addons"
if [ ! -L "$tmp/addons/$alias_rel" ]; then
    [ "$(cat "$tmp/addons/$alias_rel")" = "checkin.js" ] || { echo "unexpected $alias_rel" >&2; exit 1; }
    rm "$tmp/addons/$alias_rel"
    ln -s checkin.js "$tmp/addons/$alias_rel"
    echo "note: $alias_rel restored as a symlink in the working copy"
fi

status=0
for minor in 10 11 12 13; do
    py=$(ls -d ~/.pyenv/versions/3.$minor.*/bin/python3 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$py" ] || [ ! -x "$py" ]; then
        echo "FAIL: no CPython 3.$minor under ~/.pyenv/versions" >&2
        status=1
        continue
    fi
    echo "== $("$py" -V) ($py)"
    if ! "$py" "$here/check_fixture.py" "$py" "$fixture" "$tmp/addons"; then
        echo "FAIL: CPython 3.$minor" >&2
        status=1
    fi
done
[ $status -eq 0 ] && echo "ALL OK" || echo "FAILURES" >&2
exit $status
