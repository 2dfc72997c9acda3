// The status-bar text, and the count of requests in flight that drives its spinner. No `vscode`
// import: unit-tested under plain Node.

export type Phase = 'starting' | 'running' | 'stopped' | 'missing';

export interface Health {
  ok: boolean;
  engine: string;
  model: string;
  detail: string;
}

export interface StatusState {
  phase: Phase;
  /** From the settings until a health check reports the engine actually serving. */
  engine: string;
  health?: Health;
  /** Generations in flight (inline completions, code actions, health checks). */
  inFlight: number;
}

export interface StatusView {
  /** With VS Code's `$(icon)` syntax; `~spin` animates. */
  text: string;
  tooltip: string;
  /** Show with the error background. */
  error: boolean;
}

/** The result of the server's `ananke.healthCheck` command, or undefined if it is not one. */
export function parseHealth(raw: unknown): Health | undefined {
  if (typeof raw !== 'object' || raw === null) {
    return undefined;
  }
  const { ok, engine, model, detail } = raw as Record<string, unknown>;
  if (typeof ok !== 'boolean' || typeof engine !== 'string') {
    return undefined;
  }
  return {
    ok,
    engine,
    model: typeof model === 'string' ? model : '',
    detail: typeof detail === 'string' ? detail : '',
  };
}

export function statusView(state: StatusState): StatusView {
  const engine = state.health?.engine ?? state.engine;
  const model = state.health?.model ? ` / ${state.health.model}` : '';
  switch (state.phase) {
    case 'missing':
      return { text: '$(error) ananke: not installed', tooltip: 'ananke-lsp was not found: click for the fix', error: true };
    case 'stopped':
      return { text: '$(error) ananke: stopped', tooltip: 'The ananke language server is not running: click to restart', error: true };
    case 'starting':
      return { text: '$(loading~spin) ananke: starting', tooltip: `Starting the ananke language server (${engine})`, error: false };
    case 'running':
      break;
  }
  if (state.inFlight > 0) {
    return { text: `$(sync~spin) ananke: ${engine}`, tooltip: `ananke (${engine}${model}): generating…`, error: false };
  }
  if (!state.health) {
    return { text: `$(sparkle) ananke: ${engine}`, tooltip: `ananke (${engine}): click for a health check`, error: false };
  }
  if (state.health.ok) {
    return {
      text: `$(check) ananke: ${engine}`,
      tooltip: `ananke (${engine}${model}): healthy, constraints enforced. Click to check again.`,
      error: false,
    };
  }
  return {
    text: `$(warning) ananke: ${engine}`,
    tooltip: `ananke (${engine}${model}): unhealthy: ${state.health.detail}. Click to check again.`,
    error: true,
  };
}

/** Counts pending requests; `onChange` runs whenever the count changes. */
export class InFlight {
  count = 0;

  constructor(private readonly onChange: (count: number) => void) {}

  /** Counts `work` (a value, a promise, or a provider's thenable) until it settles. */
  async track<T>(work: T | PromiseLike<T>): Promise<T> {
    this.change(1);
    try {
      return await work;
    } finally {
      this.change(-1);
    }
  }

  private change(delta: number): void {
    this.count += delta;
    this.onChange(this.count);
  }
}
