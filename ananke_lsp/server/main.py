"""``ananke-lsp``: the language server over stdio (default) or TCP."""

from __future__ import annotations

import argparse
import logging
import sys

from . import completion, implement, lifecycle
from .app import AnankeServer


def build_server() -> AnankeServer:
    server = AnankeServer()
    for feature in (lifecycle, completion, implement):
        feature.register(server)
    return server


def _tcp_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ananke-lsp", description=__doc__)
    parser.add_argument("--stdio", action="store_true", help="serve over stdin/stdout (the default)")
    parser.add_argument("--tcp", type=_tcp_address, metavar="HOST:PORT", help="serve over TCP instead")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    # stdout carries the protocol: logs go to stderr only
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = build_server()
    if args.tcp:
        server.start_tcp(*args.tcp)
    else:
        server.start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
