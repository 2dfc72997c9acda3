"""``ananke serve``: the generation service on the embedded engine, under uvicorn. The command is
this package's (registered under the ``ananke.commands`` entry point in pyproject.toml), so the
library's command line never imports the service: the service builds on the library, not the
other way round."""

from __future__ import annotations

import argparse
import sys

from ananke_lsp.cli import MODEL_HELP
from ananke_lsp.errors import SettingsError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    srv = sub.add_parser("serve", help="run the generation service locally on the embedded engine")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8088)
    srv.add_argument("--model", metavar="NAME|PATH", help=MODEL_HELP)
    srv.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    srv.set_defaults(run=serve)


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .http_server import uvicorn_config
        from .server import create_app
        from .settings import ServerSettings
    except ImportError as exc:
        raise SettingsError(
            f"`ananke serve` needs the service extra ({exc}): pip install 'ananke-lsp[service]'"
        ) from None
    from ananke_lsp.engines.embedded import EmbeddedEngine

    settings = ServerSettings.from_env()
    if settings.token is None and args.host not in LOCAL_HOSTS:
        print(
            f"ananke: serving on {args.host} without ANANKE_SERVICE_TOKEN: anyone who can reach it can use it",
            file=sys.stderr,
        )
    app = create_app(EmbeddedEngine(args.model), settings)
    config = uvicorn_config(
        app, settings, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5
    )
    uvicorn.Server(config).run()
    return 0
