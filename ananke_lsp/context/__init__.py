"""From the editor buffer to a generation request."""
