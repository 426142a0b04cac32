-- Neovim as a real LSP client of `pipec lsp` (run by tests/neovim.rs, headless).
-- Environment: PIPEC (the binary), PIPEC_FILE (a broken .pipe file), PIPEC_OUT (results).
-- Works with Neovim 0.7 (Debian 12) and later: only start_client/buf_attach_client.
local out = {}
local function say(line) table.insert(out, line) end
local function finish()
  local f = assert(io.open(os.getenv('PIPEC_OUT'), 'w'))
  f:write(table.concat(out, '\n') .. '\n')
  f:close()
  vim.cmd('qall!')
end

local ok, err = pcall(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('PIPEC_FILE')))
  local id = vim.lsp.start_client({
    name = 'pipec',
    cmd = { os.getenv('PIPEC'), 'lsp' },
    root_dir = vim.fn.fnamemodify(os.getenv('PIPEC_FILE'), ':h'),
  })
  assert(id, 'the client did not start')
  vim.lsp.buf_attach_client(0, id)
  local got = vim.wait(15000, function() return #vim.diagnostic.get(0) > 0 end, 50)
  say('diagnostics-arrived ' .. tostring(got))
  for _, d in ipairs(vim.diagnostic.get(0)) do
    local code = d.code
    if code == nil and d.user_data and d.user_data.lsp then code = d.user_data.lsp.code end
    local first = (d.message:gsub('\n.*', ''))
    say(string.format('diagnostic %d:%d %s %s', d.lnum + 1, d.col + 1, tostring(code), first))
  end
  -- Hover over `params.env` through the client's own request path.
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  for i, line in ipairs(lines) do
    local col = line:find('params.env', 1, true)
    if col then
      local params = {
        textDocument = { uri = vim.uri_from_bufnr(0) },
        position = { line = i - 1, character = col + 7 },
      }
      local res = vim.lsp.buf_request_sync(0, 'textDocument/hover', params, 5000)
      for _, r in pairs(res or {}) do
        if r.result and r.result.contents then
          local value = r.result.contents.value or ''
          say('hover ' .. (value:match('param [^\n]*') or value))
        end
      end
      break
    end
  end
  vim.lsp.stop_client(id)
end)
if not ok then say('error ' .. tostring(err)) end
finish()
