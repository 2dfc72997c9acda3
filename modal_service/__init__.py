"""The HTTP generation service: any ``ananke_lsp`` engine behind ananke's API and an OpenAI-compatible
one, run by `ananke serve` on the embedded engine or on Modal over vLLM. Built on ``ananke_lsp``;
the library never imports it."""
