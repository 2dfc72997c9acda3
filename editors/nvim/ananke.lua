-- ananke-lsp for Neovim 0.11+.
--
-- Put this file in ~/.config/nvim/plugin/ (or `dofile()` it from init.lua). It needs
-- `ananke-lsp` on PATH (`pip install 'ananke-lsp[embedded]'`).
--
-- Keys (buffer-local, once ananke is attached):
--   <M-]>       (insert mode)  ask ananke for an inline completion at the cursor and insert it
--   <leader>ca  (normal mode)  code actions ("Implement function 'NAME'", "Add docstring", ...);
--                              Neovim's own default `gra` does the same
-- Completion items (`textDocument/completion`) arrive through your usual completion source
-- (e.g. <C-x><C-o>, which Neovim wires to the LSP omnifunc).

local M = {}

vim.lsp.config('ananke', {
  cmd = { 'ananke-lsp' },
  filetypes = { 'python', 'json', 'jsonc', 'yaml', 'toml' },
  root_markers = { '.ananke.toml', '.git' },
  -- Editor settings (see the README): where code may be sent and which model generates.
  init_options = {
    -- model = '/path/to/model.gguf',        -- default: the offline SmolLM2 on the CPU
    -- endpoint = 'https://you--ananke.modal.run',
    -- trustedEndpoints = {},
    logLevel = 'warning',
  },
})
vim.lsp.enable('ananke')

--- Text of an InlineCompletionItem's insertText (a string or a snippet StringValue).
local function item_text(item)
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value
  end
  return type(text) == 'string' and text or nil
end

--- Insert one InlineCompletionItem into `bufnr`, replacing its range (or inserting at
--- `position`), and put the cursor of the current window after it. Returns the inserted text.
function M.insert_item(bufnr, item, position, offset_encoding)
  local text = item_text(item)
  if not text or text == '' then
    return nil
  end
  local range = item.range or { start = position, ['end'] = position }
  vim.lsp.util.apply_text_edits({ { range = range, newText = text } }, bufnr, offset_encoding)
  local lines = vim.split(text, '\n', { plain = true })
  local row = range.start.line + #lines -- 1-based row of the last inserted line
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, true)[1]
  local col = #lines == 1 and vim.str_byteindex(line, offset_encoding, range.start.character, false) + #text
    or #lines[#lines]
  if vim.api.nvim_get_current_buf() == bufnr then
    vim.api.nvim_win_set_cursor(0, { row, col })
  end
  return text
end

--- Neovim 0.11 has no built-in inline-completion (ghost text) UI: request
--- `textDocument/inlineCompletion` explicitly and insert the first item, unless the buffer
--- changed while the suggestion was being generated. `M.last` keeps what happened, for scripts.
function M.inline_complete()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = 'ananke' })[1]
  if not client then
    vim.notify('ananke is not attached to this buffer', vim.log.levels.WARN)
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 1 } -- InlineCompletionTriggerKind.Invoked
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  client:request('textDocument/inlineCompletion', params, function(err, result)
    local items = result and (result.items or result) or {}
    M.last = { params = params, err = err, item = items[1] }
    if err then
      vim.notify('ananke: ' .. err.message, vim.log.levels.WARN)
    elseif not items[1] then
      vim.notify('ananke: no suggestion here', vim.log.levels.INFO)
    elseif vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      M.last.stale = true -- typed on meanwhile: dropped
    else
      M.last.text = M.insert_item(bufnr, items[1], params.position, client.offset_encoding)
    end
  end, bufnr)
end

vim.api.nvim_create_autocmd('LspAttach', {
  group = vim.api.nvim_create_augroup('ananke', { clear = true }),
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if not client or client.name ~= 'ananke' then
      return
    end
    vim.keymap.set('i', '<M-]>', M.inline_complete, { buffer = args.buf, desc = 'ananke: inline completion' })
    vim.keymap.set('n', '<leader>ca', vim.lsp.buf.code_action, { buffer = args.buf, desc = 'ananke: code actions' })
  end,
})

return M
