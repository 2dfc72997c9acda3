-- End-to-end session for tests/test_neovim_e2e.py: a real Neovim 0.11 drives ananke-lsp the way
-- a user's editor does. Run headless:
--
--   ANANKE_E2E_PROJECT=/copy/of/demo-project ANANKE_E2E_OUT=/tmp/result.json \
--   ANANKE_E2E_CMD='["python", "-m", "ananke_lsp.server"]' ANANKE_E2E_MODE=resolve \
--   nvim --headless --clean -u NONE -l editors/nvim/e2e.lua
--
-- ANANKE_E2E_MODE: "resolve" (Neovim's default capabilities: the code action is resolved through
-- codeAction/resolve) or "command" (a client that does not resolve edits: the server answers with
-- a command and applies the edit itself through workspace/applyEdit).
--
-- ANANKE_E2E_LSP_LOG (optional): level of Neovim's lsp.log, e.g. DEBUG to see the whole exchange.
--
-- It always writes the JSON result file; on failure it carries an `error` field and Neovim exits 1.

local WAIT_MS = 60000 -- for any one step
local SESSION_MS = 100000 -- for the whole session; the test kills Neovim at 120 s
local out_path = assert(os.getenv('ANANKE_E2E_OUT'), 'ANANKE_E2E_OUT is not set')
local mode = os.getenv('ANANKE_E2E_MODE') or 'resolve'
local here = vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2))

local result = { mode = mode, steps = {}, messages = {}, notifications = {}, timings = {} }
local started = vim.uv.hrtime()

local function step(name)
  table.insert(result.steps, name)
  result.timings[name] = (vim.uv.hrtime() - started) / 1e6
end

-- Everything the server tells the user, and everything Neovim itself reports.
for _, method in ipairs({ 'window/showMessage', 'window/logMessage' }) do
  local original = vim.lsp.handlers[method]
  vim.lsp.handlers[method] = function(err, params, ctx, ...)
    table.insert(result.messages, { method = method, type = params and params.type, message = params and params.message })
    if method == 'window/showMessage' then
      return -- headless: nothing to show; recorded above
    end
    return original(err, params, ctx, ...)
  end
end
local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(result.notifications, { message = tostring(msg), level = level })
  return notify(msg, level, opts)
end

--- Milliseconds one wait may take: WAIT_MS, within the whole session's budget (so that a slow
--- machine still gets a result file before the test's own hard timeout).
local function budget()
  return math.max(0, math.min(WAIT_MS, SESSION_MS - (vim.uv.hrtime() - started) / 1e6))
end

local stopping = false

local function wait_for(what, condition, floor_ms)
  local ms = math.max(budget(), floor_ms or 0)
  local done = vim.wait(ms, function()
    if result.server_exit and not stopping then
      error(('the server exited (%s) while waiting for %s'):format(vim.inspect(result.server_exit), what), 0)
    end
    return condition()
  end, 20)
  if not done then
    error(('timed out after %d ms waiting for %s'):format(ms, what), 0)
  end
end

local function run()
  local project = assert(os.getenv('ANANKE_E2E_PROJECT'), 'ANANKE_E2E_PROJECT is not set')
  local server_cmd = vim.json.decode((assert(os.getenv('ANANKE_E2E_CMD'), 'ANANKE_E2E_CMD is not set')))
  vim.lsp.log.set_level(os.getenv('ANANKE_E2E_LSP_LOG') or vim.log.levels.WARN) -- the server's stderr is logged as ERROR
  result.lsp_log = vim.lsp.log.get_filename()
  vim.cmd('filetype on') -- `-u NONE` skips filetype detection, which vim.lsp.enable relies on

  -- The user config from editors/nvim/ananke.lua, with the server command under test.
  -- vim.lsp.enable() would check `ananke-lsp` on PATH before the override below: enable it after.
  local enable = vim.lsp.enable
  vim.lsp.enable = function() end
  local ok_config, ananke = pcall(dofile, vim.fs.joinpath(here, 'ananke.lua'))
  vim.lsp.enable = enable
  assert(ok_config, ananke)
  assert(vim.fn.executable(server_cmd[1]) == 1, server_cmd[1] .. ' is not executable')
  local overrides = {
    cmd = server_cmd,
    init_options = { logLevel = 'info' },
    on_exit = function(code, signal)
      result.server_exit = { code = code, signal = signal }
    end,
  }
  if mode == 'command' then
    -- `properties` is a list, so it replaces Neovim's default { 'edit', 'command' } outright.
    overrides.capabilities = { textDocument = { codeAction = { resolveSupport = { properties = { 'command' } } } } }
  end
  vim.lsp.config('ananke', overrides)
  vim.lsp.enable('ananke')

  vim.cmd.cd(vim.fn.fnameescape(project))
  vim.cmd.edit(vim.fn.fnameescape(vim.fs.joinpath(project, 'src', 'geometry.py')))
  local bufnr = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[bufnr].filetype

  local client
  wait_for('ananke to attach', function()
    client = vim.lsp.get_clients({ bufnr = bufnr, name = 'ananke' })[1]
    return client ~= nil and client.initialized and client.attached_buffers[bufnr] == true
  end)
  result.root_dir = client.root_dir
  result.offset_encoding = client.offset_encoding
  result.server_capabilities = {
    inlineCompletion = client.server_capabilities.inlineCompletionProvider ~= nil,
    codeActionResolve = vim.tbl_get(client.server_capabilities, 'codeActionProvider', 'resolveProvider') == true,
    commands = vim.tbl_get(client.server_capabilities, 'executeCommandProvider', 'commands'),
  }
  step('attached')

  -- a. A line the user is typing mid-function, between polygon_area and circle_area.
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  local circle = assert(vim.iter(ipairs(lines)):find(function(_, l)
    return vim.startswith(l, 'def circle_area(')
  end), 'no circle_area in geometry.py')
  vim.api.nvim_buf_set_lines(bufnr, circle - 1, circle - 1, true, { 'def perimeter(points):', '    total = ', '', '' })
  -- The user's keymap from ananke.lua, typed at the end of that line in insert mode; 'x' runs the
  -- keys now and leaves insert mode, and the suggestion is inserted when the response arrives.
  vim.api.nvim_win_set_cursor(0, { circle + 1, 0 })
  ananke.last = nil
  vim.api.nvim_feedkeys(vim.keycode('A<M-]>'), 'xt', false)
  wait_for('the inline completion', function()
    return ananke.last ~= nil
  end)
  local last = ananke.last
  if last.err then
    error('inlineCompletion error: ' .. vim.inspect(last.err), 0)
  end
  assert(last.item, 'the server offered no inline completion')
  assert(not last.stale, 'the buffer changed while the suggestion was generated')
  result.request_position = last.params.position
  result.inline_item = last.item
  result.suggestion = last.text
  result.cursor_after_insert = vim.api.nvim_win_get_cursor(0)
  result.line_after_insert = vim.api.nvim_get_current_line()
  step('inline completion inserted')

  -- b. "Implement function 'polygon_area'" at its `pass` line, through vim.lsp.buf.code_action.
  lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  local def = assert(vim.iter(ipairs(lines)):find(function(_, l)
    return vim.startswith(l, 'def polygon_area(')
  end))
  local pass = assert(vim.iter(ipairs(lines)):find(function(i, l)
    return i > def and l == '    pass'
  end))
  vim.api.nvim_win_set_cursor(0, { pass, 4 })

  local function body_now()
    local now = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
    local stop = vim.iter(ipairs(now)):find(function(i, l)
      return i > def and vim.startswith(l, 'def ')
    end)
    return vim.list_slice(now, pass, (stop or #now + 1) - 1)
  end

  local original_body = body_now()
  local picked = {}
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local seen = { messages = #result.messages, notifications = #result.notifications }
  -- No `range`: like a user, the action is asked for at the cursor (a zero-width range).
  vim.lsp.buf.code_action({
    apply = true,
    context = { diagnostics = {}, only = { 'refactor.rewrite' } },
    filter = function(action)
      if action.title:find('polygon_area', 1, true) then
        table.insert(picked, { title = action.title, has_edit = action.edit ~= nil, command = action.command })
        return true
      end
      return false
    end,
  })
  wait_for('the implemented body of polygon_area', function()
    if #picked > 1 then
      error('more than one code action for polygon_area: ' .. vim.inspect(picked), 0)
    end
    for i = seen.messages + 1, #result.messages do
      local m = result.messages[i]
      if m.method == 'window/showMessage' and m.type <= 2 then -- Error or Warning
        error('the server reported: ' .. m.message, 0)
      end
    end
    for i = seen.notifications + 1, #result.notifications do
      local n = result.notifications[i]
      if (n.level or 0) >= vim.log.levels.WARN then
        error('Neovim reported: ' .. n.message, 0)
      end
    end
    return vim.api.nvim_buf_get_changedtick(bufnr) ~= tick and not vim.deep_equal(body_now(), original_body)
  end)
  result.action = picked[1]
  result.polygon_area_body = body_now()
  step('code action applied')

  -- c. Save, report, stop the server.
  vim.cmd.write()
  result.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  result.modified = vim.bo[bufnr].modified
  step('written')
  stopping = true
  client:stop()
  wait_for('the server to exit', function()
    return client:is_stopped()
  end, 5000)
  step('stopped')
end

local ok, err = xpcall(run, debug.traceback)
if not ok then
  result.error = tostring(err)
end
result.messages_output = vim.api.nvim_exec2('messages', { output = true }).output
local file = assert(io.open(out_path, 'w'))
file:write(vim.json.encode(result))
file:close()
for _, c in ipairs(vim.lsp.get_clients()) do
  c:stop(true)
end
vim.cmd(ok and 'qall!' or 'cquit! 1')
