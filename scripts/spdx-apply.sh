#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# spdx-apply.sh - give every source file its licence line (LICENSE: BSD-3-Clause).
#
#   scripts/spdx-apply.sh [--check]
#
# C and header files (*.c, *.h, anywhere in the tree) get
#   /* SPDX-License-Identifier: BSD-3-Clause */
# as their first line; shell and Python scripts under scripts/ tests/ bench/
# .ci/ docker/ (*.sh, *.py, or any file starting with "#!") get
#   # SPDX-License-Identifier: BSD-3-Clause
# right after the "#!" line (first line when there is none).  A file that
# has "SPDX-License-Identifier" in its first 3 lines already is left alone,
# so running it again changes nothing.  Prints each file it changes.
# --check changes nothing: lists the files without the line, exit 1 if any.
set -eu
cd "$(dirname "$0")/.." || exit 2

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
	echo "usage: scripts/spdx-apply.sh [--check]" >&2
	exit 2
	;;
esac

tag="SPDX-License-Identifier: BSD-3-Clause"

# tracked files and new ones not ignored; a plain walk outside git
list() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard -- "$@"
	else
		find "$@" -type f -print0 2>/dev/null
	fi
}

has_tag() {
	head -n 3 "$1" | grep -q 'SPDX-License-Identifier'
}

missing=0
apply() { # FILE LINE AFTER_SHEBANG(0/1)
	local f=$1 line=$2 after=$3 tmp
	has_tag "$f" && return 0
	missing=$((missing + 1))
	echo "$f"
	[ "$check" -eq 1 ] && return 0
	tmp=$(mktemp "$f.spdx.XXXXXX")
	{
		if [ "$after" -eq 1 ] && head -c 2 "$f" | grep -q '^#!'; then
			head -n 1 "$f"
			echo "$line"
			tail -n +2 "$f"
		else
			echo "$line"
			cat "$f"
		fi
	} >"$tmp"
	# keep the mode (executable scripts stay executable)
	chmod --reference="$f" "$tmp"
	mv "$tmp" "$f"
}

while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	case "$f" in
	*.c | *.h) apply "$f" "/* $tag */" 0 ;;
	esac
done < <(list . | sort -z)

dirs=()
for d in scripts tests bench .ci docker; do
	[ -d "$d" ] && dirs+=("$d")
done
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	case "$f" in
	*.c | *.h) continue ;;
	*.sh | *.py) ;;
	*) head -c 2 "$f" | grep -q '^#!' || continue ;;
	esac
	apply "$f" "# $tag" 1
done < <(list "${dirs[@]}" | sort -z)

if [ "$check" -eq 1 ] && [ "$missing" -gt 0 ]; then
	echo "spdx-apply: $missing file(s) without \"$tag\" (run scripts/spdx-apply.sh)" >&2
	exit 1
fi
exit 0
