"""The generation service (HTTP) that wraps any ``ananke_lsp`` engine; see the service issue."""
