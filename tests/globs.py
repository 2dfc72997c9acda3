"""Hostile globs that the glob tests and the LSP privacy tests share."""

# The glob that froze the language server: `*a` eighteen times then `*b`, against 40 `a`s.
PATHOLOGICAL = "*a" * 18 + "*b"
