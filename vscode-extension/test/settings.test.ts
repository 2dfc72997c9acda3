import assert from 'node:assert/strict';
import { test } from 'node:test';
import { engineLabel, readSettings, toServerSettings, type SettingsSource } from '../src/settings';

function source(values: Record<string, unknown>): SettingsSource {
  return { get: (key: string) => values[key] };
}

test('defaults map to the server defaults, every key present', () => {
  assert.deepEqual(toServerSettings(readSettings(source({}))), {
    engine: 'auto',
    endpoint: null,
    model: null,
    trustedEndpoints: [],
    inlineCompletion: true,
    debounceMs: null,
    logLevel: 'info',
  });
});

test('VS Code keys become the server keys (camelCase, flat)', () => {
  const settings = readSettings(
    source({
      engine: 'service',
      endpoint: ' https://me--ananke.modal.run ',
      model: '/models/x.gguf',
      trustedEndpoints: ['https://a.example', '', 3, ' https://b.example '],
      'inlineCompletion.enable': false,
      debounceMs: 250,
      logLevel: 'debug',
      'server.path': '/opt/ananke-lsp',
    }),
  );
  assert.deepEqual(toServerSettings(settings), {
    engine: 'service',
    endpoint: 'https://me--ananke.modal.run',
    model: '/models/x.gguf',
    trustedEndpoints: ['https://a.example', 'https://b.example'],
    inlineCompletion: false,
    debounceMs: 250,
    logLevel: 'debug',
  });
  assert.equal(settings.serverPath, '/opt/ananke-lsp');
});

test('values the server would reject fall back or are clamped', () => {
  const settings = toServerSettings(
    readSettings(source({ engine: 'gpt', logLevel: 'trace', debounceMs: 99999, trustedEndpoints: 'x' })),
  );
  assert.equal(settings.engine, 'auto');
  assert.equal(settings.logLevel, 'info');
  assert.equal(settings.debounceMs, 5000);
  assert.deepEqual(settings.trustedEndpoints, []);
  assert.equal(toServerSettings(readSettings(source({ debounceMs: -3 }))).debounceMs, 0);
  assert.equal(toServerSettings(readSettings(source({ debounceMs: 'soon' }))).debounceMs, null);
});

test('engine label', () => {
  assert.equal(engineLabel(readSettings(source({}))), 'embedded');
  assert.equal(engineLabel(readSettings(source({ endpoint: 'https://me--ananke.modal.run/v1' }))), 'service me--ananke.modal.run');
  assert.equal(engineLabel(readSettings(source({ engine: 'openai', endpoint: 'http://127.0.0.1:8000' }))), 'openai 127.0.0.1:8000');
  assert.equal(engineLabel(readSettings(source({ engine: 'embedded', endpoint: 'http://x' }))), 'embedded');
});
