#!/bin/sh
# libtreepack.so exports exactly the functions treepack.h declares TP_API.
#   exports.sh LIBTREEPACK_SO TREEPACK_H
set -u
want=$(sed -n 's/^TP_API .*[ *]\(tp_[a-z0-9_]*\)(.*/\1/p' "$2" | sort -u)
have=$(nm -D --defined-only "$1" | awk '$2 == "T" { print $3 }' | sort -u)
if [ "$want" != "$have" ]; then
    echo "FAIL exported symbols differ from treepack.h's TP_API declarations:"
    printf '%s\n' "$want" > want.$$; printf '%s\n' "$have" > have.$$
    diff want.$$ have.$$; rm -f want.$$ have.$$
    exit 1
fi
echo "$(printf '%s\n' "$have" | wc -l) functions exported, all declared"
