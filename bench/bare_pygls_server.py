"""The floor: a bare pygls server answering inline completion with a fixed item, no work at all."""

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare", "0")


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
def inline(ls: LanguageServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    here = types.Range(start=params.position, end=params.position)
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text="value", range=here)])


if __name__ == "__main__":
    server.start_io()
