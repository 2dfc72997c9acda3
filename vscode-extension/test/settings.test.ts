import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  engineLabel,
  keyTargets,
  parseApiKeys,
  readSettings,
  toServerSettings,
  withApiKey,
  type SettingsSource,
} from '../src/settings';

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
    profile: null,
    logLevel: 'info',
    apiKeys: {},
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
      profile: 'creative',
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
    profile: 'creative',
    logLevel: 'debug',
    apiKeys: {},
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
  assert.equal(toServerSettings(readSettings(source({ profile: 'project' }))).profile, null);
  assert.equal(toServerSettings(readSettings(source({ profile: 'wild' }))).profile, null);
});

test('engine label', () => {
  assert.equal(engineLabel(readSettings(source({}))), 'embedded');
  assert.equal(engineLabel(readSettings(source({ endpoint: 'https://me--ananke.modal.run/v1' }))), 'service me--ananke.modal.run');
  assert.equal(engineLabel(readSettings(source({ engine: 'openai', endpoint: 'http://127.0.0.1:8000' }))), 'openai 127.0.0.1:8000');
  assert.equal(engineLabel(readSettings(source({ engine: 'embedded', endpoint: 'http://x' }))), 'embedded');
});

test('keys for other endpoints (from secret storage) reach the server as apiKeys', () => {
  const keys = { 'https://team.example': 'k1' };
  assert.deepEqual(toServerSettings(readSettings(source({})), keys).apiKeys, keys);
});

test('stored keys: only URL -> non-empty string entries survive a bad or foreign value', () => {
  assert.deepEqual(parseApiKeys(undefined), {});
  assert.deepEqual(parseApiKeys('not json'), {});
  assert.deepEqual(parseApiKeys('["k"]'), {});
  assert.deepEqual(parseApiKeys('null'), {});
  assert.deepEqual(parseApiKeys(JSON.stringify({ ' https://a.example ': 'k', 'https://b.example': '', c: 3 })), {
    'https://a.example': 'k',
  });
});

test('setting and removing a key leaves the other endpoints alone', () => {
  const one = withApiKey({}, ' https://a.example ', ' k1 ');
  assert.deepEqual(one, { 'https://a.example': 'k1' });
  const two = withApiKey(one, 'https://b.example', 'k2');
  assert.deepEqual(two, { 'https://a.example': 'k1', 'https://b.example': 'k2' });
  assert.deepEqual(withApiKey(two, 'https://a.example', ''), { 'https://b.example': 'k2' });
  assert.deepEqual(one, { 'https://a.example': 'k1' }); // not changed in place
});

test('the endpoints a key can be set for: yours first, then trusted ones and those with a key', () => {
  const settings = readSettings(
    source({ endpoint: 'https://me.example', trustedEndpoints: ['https://team.example', 'https://me.example'] }),
  );
  assert.deepEqual(keyTargets(settings, { 'https://old.example': 'k', 'https://team.example': 'k' }), [
    { endpoint: null, label: 'https://me.example', detail: 'ananke.endpoint: the key goes to the server as MODAL_API_KEY' },
    { endpoint: 'https://team.example', label: 'https://team.example', detail: 'a trusted project endpoint (has a key)' },
    { endpoint: 'https://old.example', label: 'https://old.example', detail: 'has a key' },
  ]);
  assert.deepEqual(keyTargets(readSettings(source({})), {}), [
    { endpoint: null, label: 'ananke.endpoint', detail: 'ananke.endpoint: the key goes to the server as MODAL_API_KEY' },
  ]);
});
