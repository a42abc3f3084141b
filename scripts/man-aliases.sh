#!/bin/bash
# The alias pages of the man pages in <dir> (default man/): one line
# "<alias>.3 <page>.3" for every further name in a page's NAME section, e.g.
# "odp_dereg_mr.3 odp_reg_mr.3" for odp_reg_mr.3's
#   odp_reg_mr, odp_dereg_mr \- register or deregister ...
# `make install` writes each alias as a ".so man3/<page>.3" page (as
# rdma-core installs ibv_dereg_mr.3), so `man odp_dereg_mr` finds it.
set -euo pipefail
dir=${1:-man}
for page in "$dir"/*.3; do
	base=${page##*/}
	# The line after ".SH NAME": "name1, name2 \- description".
	names=$(sed -n '/^\.SH NAME/{n;p;q}' "$page" | sed 's/ *\\-.*//')
	[ -n "$names" ] || { echo "man-aliases: $page has no NAME line" >&2; exit 1; }
	for n in ${names//,/ }; do
		[ "$n.3" = "$base" ] || echo "$n.3 $base"
	done
done
