// The `ananke.*` settings this extension contributes and the settings object the server reads
// (its EditorSettings: initializationOptions and the answer to workspace/configuration "ananke").
// No `vscode` import: unit-tested under plain Node.

export const SECTION = 'ananke';

export const ENGINES = ['auto', 'embedded', 'service', 'openai'] as const;
export type Engine = (typeof ENGINES)[number];
export const LOG_LEVELS = ['error', 'warning', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Execution profiles; `project` (the setting's default) sends none: the project's apply. */
export const PROFILES = ['deterministic', 'balanced', 'creative'] as const;
export type Profile = (typeof PROFILES)[number];

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
  profile: Profile | null;
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
  profile: Profile | null;
  logLevel: LogLevel;
  /** Keys for endpoints other than `endpoint`, by URL (kept in secret storage, not in settings). */
  apiKeys: Readonly<Record<string, string>>;
}

/** Endpoint URL -> key. */
export type ApiKeys = Readonly<Record<string, string>>;

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
    // `project` or anything the server would reject: none, the project's profiles apply
    profile: PROFILES.includes(source.get('profile') as Profile) ? (source.get('profile') as Profile) : null,
    logLevel: oneOf(LOG_LEVELS, source.get('logLevel'), 'info'),
  };
}

/** ``apiKeys``: the keys this extension keeps in secret storage for other endpoints. (The key of
 *  `endpoint` itself reaches the server as MODAL_API_KEY in its environment.) */
export function toServerSettings(settings: ExtensionSettings, apiKeys: ApiKeys = {}): ServerSettings {
  return {
    engine: settings.engine,
    endpoint: settings.endpoint || null,
    model: settings.model || null,
    trustedEndpoints: settings.trustedEndpoints,
    inlineCompletion: settings.inlineCompletion,
    debounceMs: settings.debounceMs,
    profile: settings.profile,
    logLevel: settings.logLevel,
    apiKeys,
  };
}

/** The keys stored in secret storage (a JSON object, URL -> key); anything else stored there, by
 *  hand or by another version, counts as no keys rather than failing the server's settings. */
export function parseApiKeys(stored: string | undefined): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(stored ?? '{}');
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {};
  }
  let keys: Record<string, string> = {};
  for (const [url, key] of Object.entries(value)) {
    if (typeof key === 'string') {
      keys = withApiKey(keys, url, key);
    }
  }
  return keys;
}

/** ``keys`` with ``endpoint``'s key set, or removed when ``key`` is empty. */
export function withApiKey(keys: ApiKeys, endpoint: string, key: string): Record<string, string> {
  const url = endpoint.trim();
  const others = Object.fromEntries(Object.entries(keys).filter(([known]) => known !== url));
  return key.trim() && url ? { ...others, [url]: key.trim() } : others;
}

/** An endpoint a key can be set for; ``endpoint`` null: `ananke.endpoint`'s own key. */
export interface KeyTarget {
  endpoint: string | null;
  label: string;
  detail: string;
}

/** Where "Set API Key" can put a key: the user's endpoint first, then each trusted endpoint, then
 *  any other endpoint that already has a key (to change or remove it). */
export function keyTargets(settings: ExtensionSettings, keys: ApiKeys): KeyTarget[] {
  const own = settings.endpoint;
  const targets: KeyTarget[] = [
    { endpoint: null, label: own || 'ananke.endpoint', detail: 'ananke.endpoint: the key goes to the server as MODAL_API_KEY' },
  ];
  const others = [...settings.trustedEndpoints, ...Object.keys(keys)].filter((url) => url !== own);
  for (const url of new Set(others)) {
    const trusted = settings.trustedEndpoints.includes(url);
    const has = url in keys;
    const detail = trusted ? `a trusted project endpoint${has ? ' (has a key)' : ''}` : 'has a key';
    targets.push({ endpoint: url, label: url, detail });
  }
  return targets;
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
