"""``ananke-lsp``: the language server over stdio (default) or TCP.

Every method it answers, and the module that does::

    initialize                           lifecycle.py     editor settings
    initialized                          lifecycle.py     the `.ananke.toml` watcher, the model warmed up
    workspace/didChangeConfiguration     lifecycle.py     editor settings, pushed or pulled again
    textDocument/didOpen                 lifecycle.py     a `.ananke.toml` opened or saved is reloaded
    textDocument/didSave                 lifecycle.py
    workspace/didChangeWatchedFiles      lifecycle.py     a `.ananke.toml` changed on disk is reloaded
    textDocument/inlineCompletion        completion.py    the suggestion at the cursor, as ghost text
    textDocument/completion              completion.py    the same suggestion, as a completion item
    textDocument/codeAction              code_actions.py  Implement function, Add docstring, Generate from
    codeAction/resolve                   code_actions.py  comment or selection, Fill JSON, Regenerate
    workspace/executeCommand             commands.py      ananke.healthCheck, ananke.clearCache,
                                                          ananke.cacheStats, ananke.showProvenance
                                         code_actions.py  ananke.applyAction (clients that cannot resolve)
    textDocument/didChange, didClose, shutdown, exit, $/cancelRequest: pygls itself (protocol.py
    answers what pygls would drop: malformed messages, requests after shutdown)

``tests/test_lsp_methods.py`` checks that this list names every method and command registered."""

from __future__ import annotations

import argparse
import sys

from .. import environment
from . import commands, completion, lifecycle, logs
from .app import AnankeServer
from .code_actions import CodeActions
from .generate_actions import GenerateFromComment
from .json_actions import FillJson
from .python_actions import AddDocstring, ImplementFunction


def build_server() -> AnankeServer:
    server = AnankeServer()
    for feature in (lifecycle, completion, commands):
        feature.register(server)
    CodeActions(server, [ImplementFunction(), AddDocstring(), GenerateFromComment(), FillJson()]).register()
    return server


def _tcp_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ananke-lsp", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stdio", action="store_true", help="serve over stdin/stdout (the default)")
    parser.add_argument("--tcp", type=_tcp_address, metavar="HOST:PORT", help="serve over TCP instead")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    server = build_server()
    logs.configure(server, args.log_level, lambda: [*environment.secrets(), *server.editor.secrets()])
    if args.tcp:
        server.start_tcp(*args.tcp)
    else:
        server.start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
