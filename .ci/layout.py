#!/usr/bin/env python3
"""Prints README.md's Layout block from the module docs: every `- [`name`]: what`
bullet of src/lib.rs, src/proxy/mod.rs, src/deploy/mod.rs, and of each child that
has such bullets itself (indented below it). Usage: python3 .ci/layout.py [--write]
(--write replaces the block between "## Layout" and the closing fence)."""
import os
import re
import sys

BULLET = re.compile(r"- \[?`([a-z_0-9]+)`\]?:\s*(.*)")


def bullets(path):
    out, cur = [], None
    for line in open(path, encoding="utf-8"):
        if not line.startswith("//!"):
            break
        text = line[3:].strip()
        m = BULLET.match(text)
        if m:
            cur = [m.group(1), m.group(2)]
            out.append(cur)
        elif cur and text and line.startswith("//!   "):
            cur[1] += " " + text
        else:
            cur = None
    return [(n, re.sub(r"\[`([^`]+)`\]", r"\1", d).rstrip(";.").replace("`", "")) for n, d in out]


def child(base, name):
    """(shown name, file with its docs, folder of its children)."""
    f = os.path.join(base, name + ".rs")
    d = os.path.join(base, name)
    if os.path.isfile(f):
        return name + ".rs", f, d
    return name + "/", os.path.join(d, "mod.rs"), d


def walk(path, base, depth, lines):
    for name, what in bullets(path):
        shown, doc, sub = child(base, name)
        pad = "  " * depth
        lines.append(f"{pad}{shown:<{23 - len(pad)}}{what}")
        if os.path.isfile(doc):
            walk(doc, sub, depth + 1, lines)


def layout():
    lines = [
        "src/bin/vpndns.rs      flags, logging, signals — nothing else",
        "src/bin/vpnjail.rs     vpnjail's flags; both call into src/lib.rs:",
    ]
    walk("src/lib.rs", "src", 1, lines)
    lines += [
        "rc.d/ jail.conf.d/ pf/ ipsec/   the templates vpnjail embeds; openvpn/ the FreeBSD route-up hook",
        "tests/                 integration tests over real sockets (tests/common: the harness)",
        "examples/              vpndns.toml (+ lists), upstream.toml, demo.sh",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = layout()
    if "--write" in sys.argv:
        r = open("README.md", encoding="utf-8").read()
        a = r.index("## Layout\n\n```\n") + len("## Layout\n\n```\n")
        b = r.index("```\n", a)
        open("README.md", "w", encoding="utf-8").write(r[:a] + text + r[b:])
    else:
        sys.stdout.write(text)
