"""Every prompt the server sends is rendered here, from the project's templates (templates.py),
with the variables every template offers (``language``, ``file``) added to the caller's own."""

from __future__ import annotations

import logging

from .targets import Target

log = logging.getLogger("ananke_lsp.server")


def shown_file(target: Target) -> str:
    """The document as a template names it: its path inside the project (``src/app.py``), else its
    file name, else its URI (an unsaved buffer)."""
    if target.path is None:
        return target.uri
    relative = target.project.relative(target.path)
    return relative.as_posix() if relative is not None else target.path.name


def render(target: Target, name: str, /, **values: str) -> str:
    """The template ``name`` of ``target``'s project, rendered; ``PromptError`` (a ``ValueError``
    whose message names the template) when the project's template fails."""
    prompts = target.project.prompts
    text = prompts.render(name, language=target.doc.language_id or "", file=shown_file(target), **values)
    if prompts.is_overridden(name):
        log.debug("prompt from the template '%s' of %s (%d characters)", name, prompts.origin, len(text))
    return text


def system(target: Target, action: str) -> str:
    """The system message (before the context and constraint lines ``EngineRequest`` appends) of a
    chat request made by the template ``action``."""
    return render(target, "system", action=action)
