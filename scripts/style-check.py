#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""style-check.py - the mechanical part of the house style (HACKING.md).

Run through scripts/style-check.sh (or `make style-check`); see there for the
options.  Prints one line per finding, "file:line: rule: message", sorted by
rule and file, then a summary line on stderr.  Exit 0 clean, 1 findings,
2 usage or tool error.

Rules (name: what, where):
  clang-format         the file is clang-format clean (root .clang-format); all C/H
  assign-in-condition  no assignment operator (=, +=, <<=, ...) in the condition
                       of if/while/switch or in the condition part of for(;;),
                       comments, strings and {...} initialisers aside; all C/H
  undeclared-symbol    a function with external linkage defined in product code
                       is declared in a product header; product C
  dead-symbol          ...and referenced by product code besides its definition
                       (another object's undefined symbols, or a use inside a
                       body of its own file); references from tests/ and bench/
                       do not count; product C, from the objects of the build
  ownership            every .h starts with a comment holding "Ownership:"; all H
  spdx                 "SPDX-License-Identifier: BSD-3-Clause" in the first 3 lines; all C/H
  external-ref         no text cites the specification outside the repository
                       (the spec's name, its .md file, the "shared" directory
                       beside the checkout); every file but .git and .ci/

Product code: lib/ broker-plugin/ gateway/ acl/ admin/ device/.  All C/H adds
tests/ and bench/.  Exempt from the symbol rules: main, the Mosquitto plugin
entry points, and the names in scripts/style-allow.txt.
"""

import argparse
import os
import re
import subprocess
import sys

PRODUCT_DIRS = ("lib", "broker-plugin", "gateway", "acl", "admin", "device", "console")
C_DIRS = PRODUCT_DIRS + ("tests", "bench")
SPDX = "SPDX-License-Identifier: BSD-3-Clause"
SYMBOL_EXEMPT = {
    "main",
    # the three entry points Mosquitto looks up in the plugin (mosquitto_plugin.h)
    "mosquitto_plugin_version",
    "mosquitto_plugin_init",
    "mosquitto_plugin_cleanup",
}
RULES = (
    "clang-format",
    "assign-in-condition",
    "undeclared-symbol",
    "dead-symbol",
    "ownership",
    "spdx",
    "external-ref",
)
# Built from pieces so that this file does not match itself.
EXTERNAL_REF = re.compile(r"\.\./shared\b|\bSP" + r"EC\b|SP" + r"EC\.md")
# .ci/run is the configuration of the CI machine: it may name that machine's
# container-engine helper (its path lies outside the repository).
EXTERNAL_REF_EXEMPT_DIRS = (".ci/",)


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)


def out(findings, path, line, rule, msg):
    findings.append((rule, path, line, msg))


def list_files(top):
    """Tracked and untracked-but-not-ignored files; a walk outside git."""
    try:
        res = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=top,
            capture_output=True,
            check=True,
        )
        files = [f for f in res.stdout.decode().split("\0") if f]
        return sorted(f for f in set(files) if os.path.isfile(os.path.join(top, f)))
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    skip = {".git", "autom4te.cache", ".libs", ".deps"}
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith("_build")]
        for n in names:
            files.append(os.path.relpath(os.path.join(root, n), top))
    return sorted(files)


def read(top, path):
    with open(os.path.join(top, path), encoding="utf-8", errors="replace") as f:
        return f.read()


def strip_c(text):
    """Blank out comments, string and character literals (newlines kept, so
    offsets and line numbers stay)."""
    res = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            res.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            res.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            res.append(c + re.sub(r"[^\n]", " ", text[i + 1 : j - 1]) + c)
            i = j
        else:
            res.append(c)
            i += 1
    return "".join(res)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def brace_depths(code):
    """depth[i] = number of open { before offset i."""
    depth = [0] * (len(code) + 1)
    d = 0
    for i, c in enumerate(code):
        depth[i] = d
        if c == "{":
            d += 1
        elif c == "}":
            d = max(d - 1, 0)
    depth[len(code)] = d
    return depth


# ---------------------------------------------------------------- clang-format
def check_clang_format(top, files, findings):
    cf = os.environ.get("CLANG_FORMAT", "clang-format")
    seen = set()
    for k in range(0, len(files), 200):
        chunk = files[k : k + 200]
        try:
            res = subprocess.run(
                [cf, "--dry-run", "--Werror", "--style=file"] + chunk,
                cwd=top,
                capture_output=True,
                text=True,
            )
        except OSError as e:
            die(f"style-check: cannot run {cf}: {e} (apt-get install clang-format)")
        for m in re.finditer(
            r"^(.+?):(\d+):\d+: (?:error|warning): code should be clang-formatted",
            res.stderr,
            re.M,
        ):
            key = (m.group(1), int(m.group(2)))
            if key not in seen:
                seen.add(key)
                out(findings, key[0], key[1], "clang-format", "not clang-format clean (clang-format -i)")
        if res.returncode != 0 and "code should be clang-formatted" not in res.stderr:
            die(f"style-check: {cf} failed:\n{res.stderr.strip()}")


# ---------------------------------------------------------- assign-in-condition
COND_KW = re.compile(r"(?<![\w#])\b(if|while|switch|for)\s*\(")


def match_paren(code, open_pos):
    d = 0
    for i in range(open_pos, len(code)):
        if code[i] == "(":
            d += 1
        elif code[i] == ")":
            d -= 1
            if d == 0:
                return i
    return -1


def assignments(code, start, end):
    """Offsets of assignment operators in code[start:end], {...} skipped."""
    found = []
    braces = 0
    for i in range(start, end):
        c = code[i]
        if c == "{":
            braces += 1
        elif c == "}":
            braces = max(braces - 1, 0)
        if c != "=" or braces:
            continue
        nxt = code[i + 1] if i + 1 < len(code) else ""
        prev = code[i - 1]
        if nxt == "=" or prev in "=!":
            continue  # == or !=
        if prev in "<>":
            if code[i - 2] == prev:
                found.append(i)  # <<= >>=
            continue  # <= >=
        found.append(i)  # = += -= *= /= %= &= |= ^=
    return found


def check_assign(top, path, code, findings):
    for m in COND_KW.finditer(code):
        # a preprocessor "#if (...)" is not a C statement
        ls = code.rfind("\n", 0, m.start()) + 1
        if code[ls : m.start()].strip() == "#":
            continue
        op = m.end() - 1
        cl = match_paren(code, op)
        if cl < 0:
            continue
        s, e = op + 1, cl
        if m.group(1) == "for":
            semis = []
            d = 0
            for i in range(s, e):
                if code[i] in "([{":
                    d += 1
                elif code[i] in ")]}":
                    d -= 1
                elif code[i] == ";" and d == 0:
                    semis.append(i)
            if len(semis) != 2:
                continue
            s, e = semis[0] + 1, semis[1]
        for pos in assignments(code, s, e):
            out(
                findings,
                path,
                line_of(code, pos),
                "assign-in-condition",
                f"assignment in the condition of {m.group(1)} (make it a statement of its own)",
            )


# ---------------------------------------------------------------- header rules
def check_ownership(path, text, findings):
    i, n = 0, len(text)
    comments = []
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            comments.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            comments.append(text[i:j])
            i = j
        else:
            break
    if not comments:
        out(findings, path, 1, "ownership", "no leading comment (what the module is, and an Ownership: paragraph)")
    elif not any("Ownership:" in c for c in comments):
        out(findings, path, 1, "ownership", 'the leading comment has no "Ownership:" paragraph')


def check_spdx(path, text, findings):
    if SPDX not in "\n".join(text.split("\n")[:3]):
        out(findings, path, 1, "spdx", f'no "{SPDX}" in the first 3 lines (scripts/spdx-apply.sh)')


def check_external(top, files, findings):
    for f in files:
        if f.startswith(EXTERNAL_REF_EXEMPT_DIRS):
            continue
        try:
            with open(os.path.join(top, f), "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if b"\0" in data[:8192]:
            continue
        for no, ln in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
            m = EXTERNAL_REF.search(ln)
            if m:
                out(
                    findings,
                    f,
                    no,
                    "external-ref",
                    f'cites "{m.group(0)}", outside the repository (cite the docs/ page)',
                )


# ---------------------------------------------------------------- symbol rules
def object_source(builddir, obj, sources):
    """The source (relative to the top) an automake object was built from."""
    rel = os.path.relpath(obj, builddir)
    d = os.path.dirname(rel)
    if os.path.basename(d) == ".libs":
        d = os.path.dirname(d)
    base = os.path.basename(rel)[: -len(".o")]
    cands = []
    if "-" in base:
        cands.append(base.split("-", 1)[1])  # <canonical_target>-<file>.o
    cands.append(base)
    for c in cands:
        src = os.path.normpath(os.path.join(d, c + ".c"))
        if src in sources:
            return src
    return None


def load_allow(top):
    allow = set()
    p = os.path.join(top, "scripts", "style-allow.txt")
    if os.path.exists(p):
        for ln in read(top, "scripts/style-allow.txt").split("\n"):
            ln = ln.split("#", 1)[0].strip()
            if ln:
                allow.add(ln)
    return allow


def check_symbols(top, builddir, files, codes, findings, want):
    sources = {f for f in files if f.endswith(".c")}
    objs = []
    for root, dirs, names in os.walk(builddir):
        dirs[:] = [d for d in dirs if d not in (".deps", "autom4te.cache")]
        objs += [os.path.join(root, n) for n in names if n.endswith(".o")]
    # object -> source; an object older than its source belongs to no target
    # any more (make would have rebuilt it): it is left out
    pairs = []
    stale = set()
    for o in objs:
        src = object_source(builddir, o, sources)
        if src is None:
            continue
        if os.path.getmtime(o) < os.path.getmtime(os.path.join(top, src)):
            stale.add(src)
            continue
        pairs.append((o, src))
    stale -= {s for _, s in pairs}
    if stale:
        die(
            f"style-check: the objects under {builddir} are older than "
            + ", ".join(sorted(stale))
            + ": run make first (or delete the stale objects of a file that is in no target)"
        )
    product = [(o, s) for o, s in pairs if s.startswith(tuple(d + "/" for d in PRODUCT_DIRS))]
    if not product:
        die(
            f"style-check: no up-to-date objects of product code under {builddir}: "
            "build first (make), or give --build-dir, or --skip dead-symbol,undeclared-symbol"
        )
    defs = {}  # (src, sym) -> True
    refs = {}  # sym -> set of product sources whose objects reference it
    src_of = dict(pairs)
    is_product = {o: s.startswith(tuple(d + "/" for d in PRODUCT_DIRS)) for o, s in pairs}
    try:
        res = subprocess.run(["nm", "-A", "-P"] + [o for o, _ in pairs], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        die(f"style-check: nm failed: {e}")
    for ln in res.stdout.split("\n"):
        # "OBJECT: SYMBOL TYPE [VALUE SIZE]"
        obj, sep, rest = ln.partition(": ")
        parts = rest.split()
        if not sep or len(parts) < 2 or not is_product.get(obj):
            continue
        sym, typ = parts[0], parts[1]
        if typ == "T":
            defs[(src_of[obj], sym)] = True
        elif typ == "U":
            refs.setdefault(sym, set()).add(src_of[obj])
    allow = load_allow(top)
    # every name followed by "(" outside braces in a product header
    decl = set()
    for h in files:
        if h.endswith(".h") and h.startswith(tuple(d + "/" for d in PRODUCT_DIRS)):
            code = codes.get(h) or strip_c(read(top, h))
            depth = brace_depths(code)
            decl.update(m.group(1) for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", code) if depth[m.start()] == 0)
    depths = {}

    def used_in_own_file(src, sym):
        code = codes.get(src)
        if code is None:
            code = codes[src] = strip_c(read(top, src))
        if src not in depths:
            depths[src] = brace_depths(code)
        depth = depths[src]
        # the body of the definition itself (a recursive call is no use)
        body = (0, 0)
        for m in re.finditer(r"\b" + re.escape(sym) + r"\s*\(", code):
            if depth[m.start()] != 0:
                continue
            close = match_paren(code, m.end() - 1)
            k = close + 1
            while k < len(code) and code[k].isspace():
                k += 1
            if close > 0 and k < len(code) and code[k] == "{":
                end = k
                while end < len(code) and depth[end + 1] > 0:
                    end += 1
                body = (k, end + 1)
                break
        return any(
            depth[m.start()] > 0 and not body[0] <= m.start() < body[1]
            for m in re.finditer(r"\b" + re.escape(sym) + r"\b", code)
        )

    test_text = "\n".join(c for f, c in codes.items() if f.startswith(("tests/", "bench/")))

    def used_by_tests(sym):
        return re.search(r"\b" + re.escape(sym) + r"\b", test_text) is not None

    for (src, sym) in sorted(defs):
        if sym in SYMBOL_EXEMPT or sym in allow:
            continue
        code = codes.get(src) or strip_c(read(top, src))
        m = re.search(r"\b" + re.escape(sym) + r"\s*\(", code)
        line = line_of(code, m.start()) if m else 1
        if "undeclared-symbol" in want and sym not in decl:
            out(findings, src, line, "undeclared-symbol", f"{sym} has external linkage but no declaration in a header (declare it, or make it static)")
        if "dead-symbol" in want:
            others = refs.get(sym, set()) - {src}
            if not others and not used_in_own_file(src, sym):
                if used_by_tests(sym):
                    msg = f"{sym} is used by tests/ or bench/ only (use it in product code, or delete it)"
                else:
                    msg = f"{sym} is referenced nowhere besides its definition (delete it)"
                out(findings, src, line, "dead-symbol", msg)


# ------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(prog="style-check", description=__doc__.split("\n")[0])
    ap.add_argument("--top", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--build-dir", default="_build", help="built objects for the symbol rules (default _build, relative to the top)")
    ap.add_argument("--only", default="", help="comma-separated rules to run")
    ap.add_argument("--skip", default="", help="comma-separated rules to leave out")
    a = ap.parse_args()
    top = os.path.abspath(a.top)
    want = set(a.only.split(",")) if a.only else set(RULES)
    want -= set(a.skip.split(","))
    bad = want - set(RULES)
    if bad:
        ap.error(f"unknown rule(s) {', '.join(sorted(bad))}; rules: {', '.join(RULES)}")
    builddir = a.build_dir if os.path.isabs(a.build_dir) else os.path.join(top, a.build_dir)

    files = list_files(top)
    cfiles = [f for f in files if f.endswith((".c", ".h")) and f.split("/", 1)[0] in C_DIRS]
    codes = {}
    findings = []
    if "clang-format" in want:
        check_clang_format(top, cfiles, findings)
    for f in cfiles:
        text = read(top, f)
        if "spdx" in want:
            check_spdx(f, text, findings)
        if "ownership" in want and f.endswith(".h"):
            check_ownership(f, text, findings)
        if want & {"assign-in-condition", "undeclared-symbol", "dead-symbol"}:
            codes[f] = strip_c(text)
        if "assign-in-condition" in want:
            check_assign(top, f, codes[f], findings)
    if want & {"undeclared-symbol", "dead-symbol"}:
        check_symbols(top, builddir, files, codes, findings, want)
    if "external-ref" in want:
        check_external(top, files, findings)

    findings.sort(key=lambda x: (RULES.index(x[0]), x[1], x[2]))
    for rule, path, line, msg in findings:
        print(f"{path}:{line}: {rule}: {msg}")
    counts = {}
    for r, *_ in findings:
        counts[r] = counts.get(r, 0) + 1
    summary = ", ".join(f"{r} {counts.get(r, 0)}" for r in RULES if r in want)
    print(f"style-check: {len(findings)} finding(s) ({summary})", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
