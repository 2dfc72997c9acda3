"""The floor: a bare pygls server answering inline completion with a fixed item, no work at all.
With the argument `async` its handler is a coroutine, as any handler that awaits an engine must be."""

import sys

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare", "0")


def _answer(params: types.InlineCompletionParams) -> types.InlineCompletionList:
    here = types.Range(start=params.position, end=params.position)
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text="value", range=here)])


if sys.argv[1:] == ["async"]:

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_async(ls: LanguageServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return _answer(params)

else:

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    def inline(ls: LanguageServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return _answer(params)


if __name__ == "__main__":
    server.start_io()
