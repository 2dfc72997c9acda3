// The `ananke.*` settings this extension contributes and the settings object the server reads
// (its EditorSettings: initializationOptions and the answer to workspace/configuration "ananke").
// No `vscode` import: unit-tested under plain Node.

export const SECTION = 'ananke';

export const ENGINES = ['auto', 'embedded', 'service', 'openai'] as const;
export type Engine = (typeof ENGINES)[number];
export const LOG_LEVELS = ['error', 'warning', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Anything that reads settings by key, e.g. `vscode.workspace.getConfiguration('ananke')`. */
export interface SettingsSource {
  get(key: string): unknown;
}

/** What the user set, with defaults for anything unset or of the wrong type. */
export interface ExtensionSettings {
  serverPath: string;
  pythonPath: string;
  engine: Engine;
  endpoint: string;
  model: string;
  trustedEndpoints: string[];
  inlineCompletion: boolean;
  debounceMs: number | null;
  logLevel: LogLevel;
}

/** The server's wire format (camelCase). Every key is always sent: the server replaces all of its
 *  editor settings with each object it receives, so a missing key means "back to the default". */
export interface ServerSettings {
  engine: Engine;
  endpoint: string | null;
  model: string | null;
  trustedEndpoints: string[];
  inlineCompletion: boolean;
  debounceMs: number | null;
  logLevel: LogLevel;
}

function text(source: SettingsSource, key: string): string {
  const value = source.get(key);
  return typeof value === 'string' ? value.trim() : '';
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown, fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}

export function readSettings(source: SettingsSource): ExtensionSettings {
  const trusted = source.get('trustedEndpoints');
  const debounce = source.get('debounceMs');
  return {
    serverPath: text(source, 'server.path'),
    pythonPath: text(source, 'server.pythonPath'),
    engine: oneOf(ENGINES, source.get('engine'), 'auto'),
    endpoint: text(source, 'endpoint'),
    model: text(source, 'model'),
    trustedEndpoints: Array.isArray(trusted)
      ? trusted.filter((u): u is string => typeof u === 'string' && u.trim() !== '').map((u) => u.trim())
      : [],
    inlineCompletion: source.get('inlineCompletion.enable') !== false,
    // The server accepts 0..5000 ms and rejects the whole settings object otherwise.
    debounceMs:
      typeof debounce === 'number' && Number.isFinite(debounce)
        ? Math.min(5000, Math.max(0, Math.round(debounce)))
        : null,
    logLevel: oneOf(LOG_LEVELS, source.get('logLevel'), 'info'),
  };
}

export function toServerSettings(settings: ExtensionSettings): ServerSettings {
  return {
    engine: settings.engine,
    endpoint: settings.endpoint || null,
    model: settings.model || null,
    trustedEndpoints: settings.trustedEndpoints,
    inlineCompletion: settings.inlineCompletion,
    debounceMs: settings.debounceMs,
    logLevel: settings.logLevel,
  };
}

/** A short name for the engine these settings select, before the server has confirmed it (a
 *  project's trusted `.ananke.toml` endpoint can still change it; the health check tells). */
export function engineLabel(settings: ExtensionSettings): string {
  if (settings.engine === 'embedded' || !settings.endpoint) {
    return 'embedded';
  }
  let host = settings.endpoint;
  try {
    host = new URL(settings.endpoint).host;
  } catch {
    // not a URL: show it as written; the server reports the error
  }
  return `${settings.engine === 'openai' ? 'openai' : 'service'} ${host}`;
}
