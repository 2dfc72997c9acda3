"""The list of LSP methods in `ananke_lsp/server/main.py` is the server's: every method and command
the built server registers is named there, with the module that answers it."""

from __future__ import annotations

import re

from ananke_lsp.server import main


def test_every_registered_method_and_command_is_listed() -> None:
    fm = main.build_server().protocol.fm
    listed = main.__doc__ or ""
    assert fm.features and fm.commands
    named = set(re.findall(r"[\w$/.]+", listed))
    missing = sorted(set(fm.features) - named) + sorted(set(fm.commands) - named)
    assert not missing, f"registered but not listed in ananke_lsp/server/main.py: {missing}"
