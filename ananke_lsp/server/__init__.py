"""The pygls language server."""
