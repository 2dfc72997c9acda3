// End to end in a real VS Code (code-server in headless Chromium, driven by Playwright): the .vsix
// installed, ananke-lsp started from the repository's .venv on the embedded CPU engine, an inline
// completion shown as ghost text and accepted with Tab, "Implement function" applied from the
// code-action menu, the health-check and provenance commands run from the command palette, and
// the error shown when the server is not there. The assertions are on the file on disk (VS Code
// auto-saves it), the status bar and the notifications.
//
// Run by scripts/vscode-e2e.sh, which installs and builds everything first. Environment:
//   E2E_REPO        the repository root (its .venv/bin/ananke-lsp and examples/demo-project)
//   E2E_VSIX        the extension package to install
//   E2E_NODE        Node 24 (code-server requires it)
//   E2E_CODE_SERVER code-server's entry point (node_modules/code-server/out/node/entry.js)
//   E2E_CHROMIUM    the Chromium executable (default /usr/bin/chromium)
//   E2E_ARTIFACTS   where screenshots, logs and result.json (checks, phase timings) go
// Exit status 0 when every check passed.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
};

const REPO = path.resolve(env('E2E_REPO'));
const VSIX = path.resolve(env('E2E_VSIX'));
const NODE = env('E2E_NODE');
const CODE_SERVER = env('E2E_CODE_SERVER');
const CHROMIUM = env('E2E_CHROMIUM', '/usr/bin/chromium');
const ARTIFACTS = path.resolve(env('E2E_ARTIFACTS'));
const SERVER = path.join(REPO, '.venv', 'bin', 'ananke-lsp');
const EXTENSION_ID = 'ananke-lsp.ananke';

const WORK = path.join(ARTIFACTS, 'work'); // fresh each run
const PROJECT = path.join(WORK, 'demo-project');
const USER_DATA = path.join(WORK, 'user-data');
const GEOMETRY = path.join(PROJECT, 'src', 'geometry.py');
const PID_FILE = path.join(ARTIFACTS, 'code-server.pid');
const TYPED = ['def perimeter(points):', '    total = ']; // typed by the test, then completed

const timings: Record<string, number> = {};
const notes: Record<string, unknown> = {};

function log(message: string): void {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function phase<T>(name: string, work: () => T | Promise<T>): Promise<T> {
  const started = Date.now();
  log(`${name}…`);
  try {
    return await work();
  } finally {
    timings[name] = (Date.now() - started) / 1000;
    log(`${name}: ${timings[name].toFixed(1)} s`);
  }
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last === undefined ? '' : `: ${describe(last)}`}`);
    }
    await sleep(250);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function codeServerArgs(...args: string[]): string[] {
  return [
    CODE_SERVER,
    '--user-data-dir',
    USER_DATA,
    '--extensions-dir',
    path.join(WORK, 'extensions'),
    '--disable-telemetry',
    '--disable-update-check',
    // Every log at trace: the ananke channel then holds the LSP traffic (ananke.trace.server), so
    // a failed run shows what was asked and answered.
    '--log',
    'trace',
    ...args,
  ];
}

/** code-server's child environment: its own config and data, no engine endpoint from the shell. */
function childEnv(): NodeJS.ProcessEnv {
  const dropped = ['MODAL_ENDPOINT', 'MODAL_API_KEY', 'ANANKE_TRUSTED_ENDPOINTS', 'VSCODE_IPC_HOOK_CLI'];
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !dropped.includes(name))),
    XDG_CONFIG_HOME: path.join(WORK, 'xdg-config'),
    XDG_DATA_HOME: path.join(WORK, 'xdg-data'),
  };
}

function prepare(): void {
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(path.join(USER_DATA, 'User'), { recursive: true });
  fs.cpSync(path.join(REPO, 'examples', 'demo-project'), PROJECT, { recursive: true });
  if (!fs.existsSync(SERVER)) {
    throw new Error(`${SERVER} does not exist: run scripts/setup.sh`);
  }
  writeMachineSettings({ 'ananke.server.path': SERVER });
  const settings = {
    'ananke.logLevel': 'debug',
    'ananke.trace.server': 'verbose',
    // A quiet, predictable workbench: no welcome page, no AI features of VS Code's own, no
    // suggest widget competing for Tab, exactly the typed characters, files saved as edited.
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.editor.enablePreview': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'extensions.ignoreRecommendations': true,
    'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'git.openRepositoryInParentFolders': 'never',
    'editor.minimap.enabled': false,
    'editor.fontSize': 15,
    'editor.inlineSuggest.enabled': true,
    'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
    'editor.suggestOnTriggerCharacters': false,
    'editor.wordBasedSuggestions': 'off',
    'editor.autoClosingBrackets': 'never',
    'editor.autoClosingQuotes': 'never',
    'editor.autoIndent': 'none',
    'files.autoSave': 'afterDelay',
    'files.autoSaveDelay': 300,
  };
  fs.writeFileSync(path.join(USER_DATA, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  notes.settings = settings;
}

/** ananke.server.path is machine-scoped: in code-server (a remote window, as far as VS Code is
 *  concerned) it belongs in the remote settings, `Machine/settings.json` under the user data.
 *  (code-server applies changes to that file at once; to User/settings.json only on reload.) */
function writeMachineSettings(settings: Record<string, unknown>): void {
  fs.mkdirSync(path.join(USER_DATA, 'Machine'), { recursive: true });
  fs.writeFileSync(path.join(USER_DATA, 'Machine', 'settings.json'), JSON.stringify(settings, null, 2));
  notes.machineSettings = settings;
}

function installExtension(): void {
  const result = spawnSync(NODE, codeServerArgs('--install-extension', VSIX, '--force'), {
    env: childEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  const output = `${result.stdout}${result.stderr}`;
  fs.writeFileSync(path.join(ARTIFACTS, 'install-extension.log'), output);
  if (result.status !== 0 || !output.includes('successfully installed')) {
    throw new Error(`installing ${VSIX} failed (exit ${String(result.status)}):\n${output}`);
  }
  const listed = spawnSync(NODE, codeServerArgs('--list-extensions', '--show-versions'), {
    env: childEnv(),
    encoding: 'utf8',
  });
  if (!listed.stdout.includes(EXTENSION_ID)) {
    throw new Error(`${EXTENSION_ID} is not listed after installing:\n${listed.stdout}${listed.stderr}`);
  }
  notes.extensions = listed.stdout.trim();
}

async function startCodeServer(port: number): Promise<ChildProcess> {
  const logFile = fs.openSync(path.join(ARTIFACTS, 'code-server.log'), 'w');
  const child = spawn(
    NODE,
    codeServerArgs(
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      PROJECT,
    ),
    { env: childEnv(), stdio: ['ignore', logFile, logFile], detached: true },
  );
  // Its own process group (the extension host and ananke-lsp too): stopped as one at the end, or
  // by scripts/vscode-e2e.sh through this file if this process is killed first.
  fs.writeFileSync(PID_FILE, String(child.pid));
  await until('code-server to answer /healthz', 90_000, async () => {
    if (child.exitCode !== null) {
      throw new Error(`code-server exited with ${child.exitCode}`);
    }
    const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    return response?.ok ? true : undefined;
  });
  return child;
}

/** The ananke item in the status bar. */
function statusItem(page: Page): Locator {
  return page.locator('.statusbar-item').filter({ hasText: /ananke/ }).first();
}

/** Opens the quick input with `key`, types `text` and lets `confirm` finish; three tries, since a
 *  keystroke sent while the workbench is busy can be lost. */
async function quickInput(
  page: Page,
  key: string,
  text: string,
  failure: string,
  confirm: (input: Locator) => Promise<void>,
): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press(key);
    try {
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(text);
      await confirm(input);
      return;
    } catch (error) {
      if (attempt >= 3) {
        throw new Error(`${failure}: ${describe(error)}`);
      }
    }
  }
}

const listRow = (page: Page, text: string) =>
  page.locator('.quick-input-list .monaco-list-row').filter({ hasText: text }).first();

async function runCommand(page: Page, title: string): Promise<void> {
  await quickInput(page, 'F1', `>${title}`, `command "${title}" not found in the command palette`, async (input) => {
    await listRow(page, title).waitFor({ state: 'visible', timeout: 10_000 });
    await input.press('Enter');
  });
}

async function goToLine(page: Page, line: number, column = 1): Promise<void> {
  await quickInput(page, 'Control+G', `:${line}:${column}`, `could not go to line ${line}`, async (input) => {
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 10_000 });
  });
}

const readFile = () => fs.readFileSync(GEOMETRY, 'utf8');
const lineIndex = (lines: string[], prefix: string, from = 0) => {
  const index = lines.findIndex((line, i) => i >= from && line.startsWith(prefix));
  if (index < 0) {
    throw new Error(`no line starting with ${JSON.stringify(prefix)} in geometry.py`);
  }
  return index;
};

async function openGeometry(page: Page): Promise<void> {
  await quickInput(page, 'Control+P', 'geometry.py', 'could not open geometry.py', async (input) => {
    await listRow(page, 'geometry.py').waitFor({ timeout: 15_000 });
    await input.press('Enter');
    await page.locator('.tab.active').filter({ hasText: 'geometry.py' }).waitFor({ timeout: 15_000 });
  });
}

async function inlineCompletion(page: Page): Promise<void> {
  // Two empty lines above `def circle_area`, then the start of a function typed on them.
  const circle = lineIndex(readFile().split('\n'), 'def circle_area(');
  await goToLine(page, circle + 1);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Enter');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.type(TYPED[0]);
  await page.keyboard.press('Enter');
  await page.keyboard.type(TYPED[1]);
  await until('the typed lines on disk', 30_000, () => (readFile().includes(TYPED.join('\n') + '\n') ? true : undefined));

  // Typing already asks for a suggestion (automatic trigger); the explicit trigger is what a
  // user presses. Alt+\ first, then the command palette; generous waits: on the CPU the first
  // suggestion also loads the model.
  const ghost = page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text');
  let suggestion: string | undefined;
  for (let attempt = 1; attempt <= 3 && suggestion === undefined; attempt++) {
    if (attempt === 1) {
      await page.keyboard.press('Alt+Backslash');
    } else {
      log(`no ghost text yet: triggering again (attempt ${attempt}) from the command palette`);
      await runCommand(page, 'Trigger Inline Suggestion');
    }
    try {
      await ghost.first().waitFor({ state: 'visible', timeout: attempt === 1 ? 90_000 : 45_000 });
      suggestion = (await ghost.allTextContents()).join('').replace(/\u00a0/g, ' ');
    } catch {
      // retried above
    }
  }
  if (suggestion === undefined) {
    throw new Error('no ghost text appeared after three triggers');
  }
  notes.ghostText = suggestion;
  log(`ghost text: ${JSON.stringify(suggestion)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, '1-ghost-text.png') });

  await page.keyboard.press('Tab');
  const accepted = await until('the accepted suggestion on disk', 30_000, () => {
    const lines = readFile().split('\n');
    const line = lines[lineIndex(lines, TYPED[1])];
    return line !== TYPED[1] ? line : undefined;
  });
  await ghost.first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
  notes.acceptedLine = accepted;
  log(`line after Tab: ${JSON.stringify(accepted)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, '2-after-accept.png') });
  const expected = TYPED[1] + suggestion.trimEnd();
  if (accepted.trimEnd() !== expected) {
    throw new Error(`after Tab the line is ${JSON.stringify(accepted)}, expected ${JSON.stringify(expected)}`);
  }
  if (!suggestion.trim()) {
    throw new Error('the ghost text was empty');
  }
}

async function implementFunction(page: Page): Promise<void> {
  const lines = readFile().split('\n');
  const def = lineIndex(lines, 'def polygon_area(');
  const pass = lineIndex(lines, '    pass', def);
  const title = "Implement function 'polygon_area'";
  await goToLine(page, pass + 1, 5);

  const item = page.locator('.action-widget .monaco-list-row').filter({ hasText: title }).first();
  for (let attempt = 1; ; attempt++) {
    // Ctrl+. (Quick Fix) lists refactorings too; "Refactor..." as the fallback.
    await (attempt % 2 === 1 ? page.keyboard.press('Control+Period') : runCommand(page, 'Refactor...'));
    try {
      await item.waitFor({ state: 'visible', timeout: 20_000 });
      break;
    } catch (error) {
      await page.keyboard.press('Escape');
      if (attempt >= 4) {
        throw new Error(`"${title}" was not offered: ${describe(error)}`);
      }
      log(`code action not offered yet (attempt ${attempt}); asking again`);
    }
  }
  notes.codeActions = await page.locator('.action-widget .monaco-list-row').allTextContents();
  await page.screenshot({ path: path.join(ARTIFACTS, '3-code-actions.png') });
  await item.click();

  // The status item spins while the action is resolved (the generation runs on resolve).
  notes.spinnerSeen = await statusItem(page)
    .locator('.codicon-modifier-spin')
    .waitFor({ timeout: 10_000 })
    .then(() => true)
    .catch(() => false);
  if (notes.spinnerSeen) {
    await page.screenshot({ path: path.join(ARTIFACTS, '4-generating.png') });
  }

  const body = await until('the implemented body of polygon_area on disk', 240_000, () => {
    const now = readFile().split('\n');
    const start = lineIndex(now, 'def polygon_area(');
    const end = lineIndex(now, 'def ', start + 1);
    const docstringEnd = now.findIndex((line, i) => i > start + 1 && line.trim() === '"""');
    const bodyLines = now.slice(docstringEnd + 1, end).filter((line) => line.trim());
    return bodyLines.length && bodyLines.join('\n').trim() !== 'pass' ? bodyLines : undefined;
  });
  notes.polygonAreaBody = body;
  log(`polygon_area body:\n${body.join('\n')}`);
  await page.screenshot({ path: path.join(ARTIFACTS, '5-after-code-action.png') });
  if (!body.every((line) => line.startsWith('    '))) {
    throw new Error('the new body of polygon_area is not indented inside the function');
  }
}

async function commands(page: Page): Promise<void> {
  await runCommand(page, 'ananke: Check Engine Health');
  await until('a healthy engine in the status bar', 120_000, async () =>
    (await statusItem(page).locator('.codicon-check').count()) > 0 ? true : undefined,
  );
  notes.statusAfterHealth = await statusItem(page).getAttribute('aria-label');

  // A settings change goes to the running server (workspace/didChangeConfiguration, in the
  // server's format); the extension forgets the health verdict, since the engine may change.
  writeMachineSettings({ 'ananke.server.path': SERVER, 'ananke.debounceMs': 250 });
  await until('the status to drop the health verdict after a settings change', 30_000, async () =>
    (await statusItem(page).locator('.codicon-check').count()) === 0 ? true : undefined,
  );

  await runCommand(page, 'ananke: Show Last Provenance');
  const provenance = await until('the provenance document', 30_000, async () => {
    const text = (await page.locator('.editor-group-container .monaco-editor .view-lines').last().innerText()).replace(
      /\u00a0/g,
      ' ',
    );
    return text.includes('"enforced"') ? text : undefined;
  });
  notes.provenance = provenance;
  await page.screenshot({ path: path.join(ARTIFACTS, '6-health-and-provenance.png') });
  if (!provenance.includes('python_style')) {
    throw new Error(`the provenance does not name the project's python_style constraint:\n${provenance}`);
  }
  const errors = page.locator('.notification-toast').filter({ hasText: /ananke: .*(invalid|error|failed)/i });
  if ((await errors.count()) > 0) {
    throw new Error(`ananke reported: ${(await errors.allInnerTexts()).join(' | ')}`);
  }
}

/** A server that is not there: the status item and an error naming the fix, not a stack trace. */
async function missingServer(page: Page): Promise<void> {
  await runCommand(page, 'Notifications: Clear All Notifications');
  // VS Code applies a changed settings file at once; a change to ananke.server.* restarts.
  writeMachineSettings({ 'ananke.server.path': '/nonexistent/ananke-lsp' });
  const toast = page.locator('.notification-toast').filter({ hasText: "pip install 'ananke-lsp[embedded]'" }).first();
  await toast.waitFor({ timeout: 60_000 });
  const message = await toast.locator('.notification-list-item-message').innerText();
  const buttons = await toast.locator('.monaco-button').allInnerTexts();
  const status = await statusItem(page).innerText();
  Object.assign(notes, { missingServerMessage: message, missingServerButtons: buttons, statusMissing: status });
  await sleep(1000); // the toast slides in
  await page.screenshot({ path: path.join(ARTIFACTS, '7-server-missing.png') });
  if (!buttons.includes('Open Settings') || !status.includes('not installed')) {
    throw new Error(`unexpected buttons ${JSON.stringify(buttons)} or status ${JSON.stringify(status)}`);
  }
}

/** The extension's output channel and the extension host log, copied next to the screenshots. */
function collectLogs(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (/ananke|exthost\.log|remoteexthost\.log/i.test(entry.name) || full.includes(EXTENSION_ID)) {
        found.push(full);
      }
    }
  };
  walk(path.join(USER_DATA, 'logs'));
  for (const file of found) {
    fs.copyFileSync(file, path.join(ARTIFACTS, `log-${path.basename(path.dirname(file))}-${path.basename(file)}`));
  }
  return found;
}

function tail(file: string, lines = 60): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '(missing)';
}

async function main(): Promise<number> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const old of fs.readdirSync(ARTIFACTS).filter((f) => /\.(png|log|json|after)$/.test(f))) {
    fs.rmSync(path.join(ARTIFACTS, old));
  }
  let codeServer: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let failure: unknown;
  try {
    await phase('prepare project and settings', prepare);
    await phase('install the .vsix into code-server', installExtension);
    const port = await freePort();
    codeServer = await phase('start code-server', () => startCodeServer(port));
    const opened = await phase('open the workbench in Chromium', async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      const newPage = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await newPage.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(PROJECT)}`);
      await newPage.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
      await newPage.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ timeout: 120_000 });
      return newPage;
    });
    page = opened;
    await phase('open geometry.py and start ananke-lsp', async () => {
      await openGeometry(opened);
      await opened.locator('.monaco-editor .view-lines').first().click();
      await until('the ananke status item to show a running server', 120_000, async () => {
        const text = (await statusItem(opened).innerText().catch(() => '')).trim();
        if (/not installed|stopped/.test(text)) {
          throw new Error(`status bar: ${text}`);
        }
        return text && !text.includes('starting') ? text : undefined;
      });
      notes.statusRunning = await statusItem(opened).getAttribute('aria-label');
    });
    await phase('inline completion: trigger, ghost text, Tab', () => inlineCompletion(opened));
    await phase('code action: Implement function', () => implementFunction(opened));
    await phase('commands: health check, provenance', () => commands(opened));
    await phase('server missing: the error and its fix', () => missingServer(opened));
  } catch (error) {
    failure = error;
    console.error(`\nFAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await page?.screenshot({ path: path.join(ARTIFACTS, 'failure.png') }).catch(() => undefined);
  } finally {
    await browser?.close().catch(() => undefined);
    if (codeServer?.pid) {
      try {
        process.kill(-codeServer.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      fs.rmSync(PID_FILE, { force: true });
    }
  }
  const logs = collectLogs();
  if (fs.existsSync(GEOMETRY)) {
    fs.copyFileSync(GEOMETRY, path.join(ARTIFACTS, 'geometry.py.after'));
  }
  fs.writeFileSync(
    path.join(ARTIFACTS, 'result.json'),
    JSON.stringify({ passed: failure === undefined, error: failure === undefined ? undefined : describe(failure), timings, notes }, null, 2),
  );
  if (failure !== undefined) {
    console.error(`\n--- code-server.log (tail) ---\n${tail(path.join(ARTIFACTS, 'code-server.log'))}`);
    for (const file of logs.filter((f) => /ananke/i.test(f))) {
      console.error(`\n--- ${file} (tail) ---\n${tail(file, 120)}`);
    }
  }
  console.log('\nphase timings (s):');
  for (const [name, seconds] of Object.entries(timings)) {
    console.log(`  ${seconds.toFixed(1).padStart(6)}  ${name}`);
  }
  console.log(failure === undefined ? '\nE2E PASSED' : '\nE2E FAILED');
  return failure === undefined ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
