#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# style-check.sh - the mechanical house-style check (HACKING.md, House style).
#
#   scripts/style-check.sh [--build-dir DIR] [--only RULE,...] [--skip RULE,...]
#
# Prints one line per finding, "file:line: rule: message", grouped by rule,
# then "style-check: N finding(s) (rule count, ...)" on stderr.  Exit 0 when
# clean, 1 with findings, 2 on a usage or tool error.
#
# Rules (details in scripts/style-check.py):
#   clang-format         clang-format --dry-run --Werror, root .clang-format
#   assign-in-condition  no =, +=, ... in if/while/switch/for conditions
#   undeclared-symbol    product functions with external linkage are declared in a header
#   dead-symbol          ...and referenced by product code besides their definition
#   ownership            every .h starts with a comment holding "Ownership:"
#   spdx                 "SPDX-License-Identifier: BSD-3-Clause" in the first 3 lines
#   external-ref         nothing cites a document outside the repository
# C/H files of lib/ broker-plugin/ gateway/ acl/ admin/ device/ (product code)
# and tests/ bench/ (all rules but the two symbol rules).  The symbol rules
# read the objects of a build (nm): build first; the build directory is
# _build by default (--build-dir, relative to the top or absolute).
# Exempt names for the symbol rules: scripts/style-allow.txt.
# Needs python3, clang-format (14, Debian package clang-format) and nm.
set -u
cd "$(dirname "$0")/.." || exit 2
exec python3 scripts/style-check.py "$@"
