import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INSTALL_COMMAND, resolveServerCommand, type Host } from '../src/serverCommand';

function host(executables: string[], overrides: Partial<Host> = {}): Host {
  return {
    platform: 'linux',
    searchPath: '/usr/local/bin:/usr/bin',
    folders: ['/work/project'],
    trusted: true,
    isExecutable: (file) => executables.includes(file),
    hasModule: () => Promise.resolve(true),
    ...overrides,
  };
}

const none = { serverPath: '', pythonPath: '' };

test('ananke-lsp on PATH', async () => {
  const result = await resolveServerCommand(none, host(['/usr/bin/ananke-lsp']), '/home/me');
  assert.deepEqual(result, { ok: true, server: { command: '/usr/bin/ananke-lsp', args: [], source: 'PATH' } });
});

test("then the workspace's .venv, only when the workspace is trusted", async () => {
  const venv = '/work/project/.venv/bin/ananke-lsp';
  const found = await resolveServerCommand(none, host([venv]), '/home/me');
  assert.deepEqual(found, { ok: true, server: { command: venv, args: [], source: '/work/project/.venv' } });
  const untrusted = await resolveServerCommand(none, host([venv], { trusted: false }), '/home/me');
  assert.equal(untrusted.ok, false);
});

test('PATH wins over the .venv', async () => {
  const result = await resolveServerCommand(none, host(['/usr/bin/ananke-lsp', '/work/project/.venv/bin/ananke-lsp']), '/h');
  assert.ok(result.ok && result.server.command === '/usr/bin/ananke-lsp');
});

test('ananke.server.path: absolute, relative to the workspace, ~, or a name on PATH', async () => {
  const cases: [string, string][] = [
    ['/opt/a/ananke-lsp', '/opt/a/ananke-lsp'],
    ['tools/ananke-lsp', '/work/project/tools/ananke-lsp'],
    ['~/bin/ananke-lsp', '/home/me/bin/ananke-lsp'],
    ['ananke-lsp', '/usr/local/bin/ananke-lsp'],
  ];
  for (const [setting, expected] of cases) {
    const result = await resolveServerCommand({ serverPath: setting, pythonPath: '' }, host([expected]), '/home/me');
    assert.deepEqual(result, { ok: true, server: { command: expected, args: [], source: 'ananke.server.path' } });
  }
});

test('a server path that is not executable is an error, not a fallback', async () => {
  const result = await resolveServerCommand({ serverPath: '/nope', pythonPath: '' }, host(['/usr/bin/ananke-lsp']), '/h');
  assert.deepEqual(result, {
    ok: false,
    message: 'ananke.server.path is "/nope", which is not an executable file: correct or clear it.',
    fix: INSTALL_COMMAND,
  });
});

test('ananke.server.pythonPath runs the module, and says how to install it when missing', async () => {
  const python = '/usr/bin/python3';
  const ok = await resolveServerCommand({ serverPath: '', pythonPath: 'python3' }, host([python]), '/h');
  assert.deepEqual(ok, {
    ok: true,
    server: { command: python, args: ['-m', 'ananke_lsp.server'], source: 'ananke.server.pythonPath' },
  });
  const missing = await resolveServerCommand(
    { serverPath: '', pythonPath: python },
    host([python], { hasModule: () => Promise.resolve(false) }),
    '/h',
  );
  assert.deepEqual(missing, {
    ok: false,
    message: '/usr/bin/python3 cannot import ananke_lsp.',
    fix: `"/usr/bin/python3" -m ${INSTALL_COMMAND}`,
  });
});

test('nothing found: the message names the pip command', async () => {
  assert.deepEqual(await resolveServerCommand(none, host([]), '/h'), {
    ok: false,
    message:
      "The language server ananke-lsp was not found on PATH or in the workspace's .venv, and ananke.server.path is not set.",
    fix: "pip install 'ananke-lsp[embedded]'",
  });
});

test('Windows: .exe on PATH (";"-separated)', async () => {
  const result = await resolveServerCommand(
    none,
    host(['C:\\py/ananke-lsp.exe'], { platform: 'win32', searchPath: 'C:\\py;C:\\other' }),
    '/h',
  );
  assert.ok(result.ok && result.server.command.endsWith('ananke-lsp.exe'));
});
