// The VS Code side of ananke-lsp: starts the server, maps settings, adds commands and a status item.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { resolveServerCommand, type Host, type Resolution } from './serverCommand';
import {
  SECTION,
  engineLabel,
  keyTargets,
  parseApiKeys,
  readSettings,
  toServerSettings,
  withApiKey,
  type ApiKeys,
  type ExtensionSettings,
  type ServerSettings,
} from './settings';
import { InFlight, parseHealth, statusView, type StatusState } from './status';

// The server's own commands (workspace/executeCommand). vscode-languageclient registers each of
// them as a VS Code command of the same name, so this extension's commands use other names.
const SERVER = { health: 'ananke.healthCheck', clearCache: 'ananke.clearCache', provenance: 'ananke.showProvenance' };
const API_KEY = 'ananke.apiKey'; // in SecretStorage; given to the server as MODAL_API_KEY
// In SecretStorage too, never in settings.json (plain text, and synced by Settings Sync): keys for
// other endpoints (trusted project endpoints), URL -> key as JSON, sent as the server's `apiKeys`.
const API_KEYS = 'ananke.apiKeys';

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function hasModule(python: string): Promise<boolean> {
  // find_spec does not import the package: quick, and no side effects.
  const probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('ananke_lsp') is None)";
  return new Promise((resolve) => {
    execFile(python, ['-c', probe], { timeout: 15_000 }, (error) => {
      resolve(error === null);
    });
  });
}

/** The last provenance as a read-only JSON document (an untitled one would ask to be saved). */
class ProvenanceView implements vscode.TextDocumentContentProvider {
  static readonly scheme = 'ananke-provenance';
  private readonly uri = vscode.Uri.from({ scheme: ProvenanceView.scheme, path: '/last-generation.json' });
  private text = '';
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(): string {
    return this.text;
  }

  async show(provenance: unknown): Promise<void> {
    this.text = JSON.stringify(provenance, null, 2);
    this.changed.fire(this.uri);
    const document = await vscode.workspace.openTextDocument(this.uri);
    await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }

  dispose(): void {
    this.changed.dispose();
  }
}

class Ananke implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly output = vscode.window.createOutputChannel('ananke', { log: true });
  private readonly item = vscode.window.createStatusBarItem('ananke.status', vscode.StatusBarAlignment.Right, 100);
  private state: StatusState = { phase: 'starting', engine: '', inFlight: 0 };
  private lifecycle = Promise.resolve();
  private apiKeys: ApiKeys = {}; // what secret storage holds under API_KEYS
  readonly provenance = new ProvenanceView();
  private readonly inFlight = new InFlight((count) => {
    this.state.inFlight = count;
    this.render();
  });

  constructor(private readonly context: vscode.ExtensionContext) {
    this.item.name = 'ananke';
    this.item.show();
  }

  private settings(scope?: vscode.Uri) {
    return readSettings(vscode.workspace.getConfiguration(SECTION, scope));
  }

  private serverSettings(scopeUri?: string): ServerSettings {
    return toServerSettings(this.settings(scopeUri ? vscode.Uri.parse(scopeUri) : undefined), this.apiKeys);
  }

  private host(): Host {
    return {
      platform: process.platform,
      searchPath: process.env.PATH ?? '',
      folders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
      trusted: vscode.workspace.isTrusted,
      isExecutable,
      hasModule,
    };
  }

  private render(): void {
    const view = statusView(this.state);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.command = this.state.phase === 'running' ? 'ananke.checkHealth' : 'ananke.restartServer';
  }

  private setPhase(phase: StatusState['phase']): void {
    this.state.phase = phase;
    this.render();
  }

  /** Start, stop and restart run one after another, never interleaved. */
  private queue(work: () => Promise<void>): Promise<void> {
    this.lifecycle = this.lifecycle.then(work, work);
    return this.lifecycle;
  }

  start(): Promise<void> {
    return this.queue(() => this.launch());
  }

  stop(): Promise<void> {
    return this.queue(() => this.shutdown());
  }

  restart(): Promise<void> {
    return this.queue(async () => {
      await this.shutdown();
      await this.launch();
    });
  }

  private async launch(): Promise<void> {
    const settings = this.settings();
    this.state = { phase: 'starting', engine: engineLabel(settings), inFlight: this.inFlight.count };
    this.render();
    const resolution = await resolveServerCommand(settings, this.host(), os.homedir());
    if (!resolution.ok) {
      void this.reportMissing(resolution);
      return;
    }
    const { command, args, source } = resolution.server;
    this.output.info(`starting ${[command, ...args].join(' ')} (from ${source})`);
    const apiKey = await this.context.secrets.get(API_KEY);
    this.apiKeys = parseApiKeys(await this.context.secrets.get(API_KEYS)); // in initializationOptions
    const serverOptions: ServerOptions = {
      command,
      args,
      // `env` is added to the extension host's environment, not a replacement for it.
      options: { cwd: this.host().folders[0], env: apiKey ? { MODAL_API_KEY: apiKey } : undefined },
    };
    const client = new LanguageClient(SECTION, 'ananke', serverOptions, this.clientOptions());
    this.client = client;
    client.onDidChangeState(({ newState }) => {
      if (this.client === client) {
        this.setPhase(newState === State.Running ? 'running' : newState === State.Starting ? 'starting' : 'stopped');
      }
    });
    try {
      await client.start();
    } catch (error) {
      this.output.error(`the server did not start: ${errorText(error)}`);
      this.setPhase('stopped');
      void vscode.window
        .showErrorMessage(
          `ananke: the language server (${command}) did not start: ${errorText(error)}`,
          'Show Output',
          'Open Settings',
        )
        .then((choice) => this.follow(choice));
    }
  }

  private clientOptions(): LanguageClientOptions {
    // Spinner while a generation is pending. Code-action *lists* are cheap and asked for on every
    // cursor move; the generation happens on resolve (or in ananke.applyAction).
    const track = <T>(work: T | PromiseLike<T>) => this.inFlight.track(work);
    return {
      documentSelector: [{ scheme: 'file' }],
      initializationOptions: this.serverSettings(),
      outputChannel: this.output,
      middleware: {
        provideInlineCompletionItems: (document, position, context, token, next) =>
          track(next(document, position, context, token)),
        resolveCodeAction: (item, token, next) => track(next(item, token)),
        executeCommand: (command, args, next) => track(next(command, args)),
        workspace: {
          // VS Code's own answer would be the raw `ananke` section (nested keys such as
          // `inlineCompletion.enable`), which the server rejects: answer in its format.
          configuration: async (params, token, next) => {
            const answers = await next(params, token);
            if (!Array.isArray(answers)) {
              return answers;
            }
            return answers.map((answer: unknown, i) =>
              params.items[i]?.section === SECTION ? this.serverSettings(params.items[i].scopeUri) : answer,
            );
          },
        },
      },
    };
  }

  private async reportMissing(problem: Extract<Resolution, { ok: false }>): Promise<void> {
    this.setPhase('missing');
    const text = `${problem.message} To install it: ${problem.fix}`;
    this.output.error(text);
    const choice = await vscode.window.showErrorMessage(
      `ananke: ${text}`,
      'Copy Install Command',
      'Open Settings',
    );
    if (choice === 'Copy Install Command') {
      await vscode.env.clipboard.writeText(problem.fix);
    }
    await this.follow(choice);
  }

  private async follow(choice: string | undefined): Promise<void> {
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.server`);
    } else if (choice === 'Show Output') {
      this.output.show();
    }
  }

  private async shutdown(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.dispose(5000);
      } catch (error) {
        this.output.warn(`stopping the server: ${errorText(error)}`);
      }
    }
  }

  /** Runs one of the server's commands; undefined (and a message) if it cannot. */
  private async execute(command: string, ...args: unknown[]): Promise<unknown> {
    const client = this.client;
    if (!client?.isRunning()) {
      const choice = await vscode.window.showWarningMessage('ananke: the language server is not running.', 'Restart');
      if (choice === 'Restart') {
        await this.restart();
      }
      return undefined;
    }
    try {
      return await this.inFlight.track(client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }));
    } catch (error) {
      void vscode.window.showErrorMessage(`ananke: ${command} failed: ${errorText(error)}`);
      return undefined;
    }
  }

  async checkHealth(): Promise<void> {
    // The server names the engine and model and shows the verdict itself (window/showMessage).
    const file = vscode.window.activeTextEditor?.document.uri;
    const health = parseHealth(await this.execute(SERVER.health, ...(file?.scheme === 'file' ? [file.toString()] : [])));
    if (health) {
      this.state.health = health;
      this.render();
    }
  }

  async clearCache(): Promise<void> {
    if ((await this.execute(SERVER.clearCache)) !== undefined) {
      void vscode.window.showInformationMessage('ananke: constraint and suggestion caches cleared.');
    }
  }

  async showProvenance(): Promise<void> {
    const provenance = await this.execute(SERVER.provenance);
    if (provenance) {
      // (null: the server already said "nothing generated yet")
      await this.provenance.show(provenance);
    }
  }

  async setApiKey(): Promise<void> {
    const settings = this.settings();
    const target = await this.chooseKeyTarget(settings);
    if (target === undefined) {
      return;
    }
    const key = await vscode.window.showInputBox({
      title: `ananke: API key for ${target ?? (settings.endpoint || 'ananke.endpoint')}`,
      prompt: 'Kept in VS Code secret storage, sent only to this endpoint. Empty removes it.',
      password: true,
      ignoreFocusOut: true,
    });
    if (key === undefined) {
      return;
    }
    if (target === null) {
      // the server reads this one from its environment (MODAL_API_KEY): it starts again
      await (key ? this.context.secrets.store(API_KEY, key) : this.context.secrets.delete(API_KEY));
      await this.restart();
      return;
    }
    const keys = withApiKey(this.apiKeys, target, key);
    await (Object.keys(keys).length
      ? this.context.secrets.store(API_KEYS, JSON.stringify(keys))
      : this.context.secrets.delete(API_KEYS));
    await this.reloadApiKeys();
  }

  /** The endpoint a key is for: null for `ananke.endpoint`'s own, undefined when dismissed. */
  private async chooseKeyTarget(settings: ExtensionSettings): Promise<string | null | undefined> {
    const targets = keyTargets(settings, this.apiKeys);
    const other = { label: 'Another endpoint…', detail: 'a project endpoint you trust, by its URL', endpoint: '' };
    if (targets.length === 1) {
      return null; // only the user's own endpoint (no trusted one, no other key): nothing to choose
    }
    const picked = await vscode.window.showQuickPick([...targets, other], {
      title: 'ananke: Set API Key for which endpoint?',
      ignoreFocusOut: true,
    });
    if (picked !== other) {
      return picked?.endpoint;
    }
    return vscode.window.showInputBox({
      title: 'ananke: endpoint URL',
      prompt: 'The URL as the project names it, e.g. https://team--ananke.modal.run',
      ignoreFocusOut: true,
      validateInput: (url) => (/^https?:\/\/\S+$/.test(url.trim()) ? undefined : 'an http:// or https:// URL'),
    });
  }

  /** Secret storage changed (here, or in another window): the server gets the keys at once. */
  async reloadApiKeys(): Promise<void> {
    this.apiKeys = parseApiKeys(await this.context.secrets.get(API_KEYS));
    this.pushSettings();
  }

  /** The server replaces all of its editor settings with each object it receives. */
  private pushSettings(): void {
    // (a server still starting asks for its settings once initialized)
    if (this.client?.isRunning()) {
      this.client
        .sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: this.serverSettings() } })
        .catch((error: unknown) => {
          this.output.warn(`sending the settings: ${errorText(error)}`);
        });
    }
  }

  onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (event.affectsConfiguration(`${SECTION}.server`)) {
      void this.restart();
    } else if (event.affectsConfiguration(SECTION)) {
      this.state.engine = engineLabel(this.settings());
      this.state.health = undefined; // it may be another engine now
      this.render();
      this.pushSettings();
    }
  }

  showOutput(): void {
    this.output.show();
  }

  dispose(): void {
    this.item.dispose();
    this.output.dispose();
    this.provenance.dispose();
  }
}

let ananke: Ananke | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const extension = new Ananke(context);
  ananke = extension;
  const commands: Record<string, () => unknown> = {
    'ananke.checkHealth': () => extension.checkHealth(),
    'ananke.clearCaches': () => extension.clearCache(),
    'ananke.showLastProvenance': () => extension.showProvenance(),
    'ananke.restartServer': () => extension.restart(),
    'ananke.setApiKey': () => extension.setApiKey(),
    'ananke.showOutput': () => {
      extension.showOutput();
    },
  };
  context.subscriptions.push(
    extension,
    ...Object.entries(commands).map(([id, run]) => vscode.commands.registerCommand(id, run)),
    vscode.workspace.registerTextDocumentContentProvider(ProvenanceView.scheme, extension.provenance),
    vscode.workspace.onDidChangeConfiguration((event) => {
      extension.onConfigurationChanged(event);
    }),
    context.secrets.onDidChange((event) => {
      if (event.key === API_KEYS) {
        void extension.reloadApiKeys();
      }
    }),
    // Trusting the workspace makes its .venv/bin/ananke-lsp eligible.
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      void extension.restart();
    }),
  );
  void extension.start(); // not awaited: activation does not wait for the server
}

export async function deactivate(): Promise<void> {
  await ananke?.stop();
  ananke = undefined;
}
