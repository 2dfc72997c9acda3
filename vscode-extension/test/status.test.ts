import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InFlight, parseHealth, statusView, type StatusState } from '../src/status';

const running: StatusState = { phase: 'running', engine: 'embedded', inFlight: 0 };
const healthy = { ok: true, engine: 'embedded', model: 'SmolLM2-135M', detail: '' };

test('running, not yet checked', () => {
  const view = statusView(running);
  assert.equal(view.text, '$(sparkle) ananke: embedded');
  assert.equal(view.error, false);
});

test('a spinner while generating', () => {
  assert.equal(statusView({ ...running, inFlight: 2 }).text, '$(sync~spin) ananke: embedded');
});

test('health: the engine the server reports, with its model in the tooltip', () => {
  const view = statusView({ ...running, engine: 'service x', health: healthy });
  assert.equal(view.text, '$(check) ananke: embedded');
  assert.match(view.tooltip, /SmolLM2-135M/);
  const sick = statusView({ ...running, health: { ...healthy, ok: false, detail: 'self-test failed' } });
  assert.equal(sick.text, '$(warning) ananke: embedded');
  assert.ok(sick.error && sick.tooltip.includes('self-test failed'));
});

test('not running', () => {
  assert.equal(statusView({ ...running, phase: 'starting' }).text, '$(loading~spin) ananke: starting');
  assert.ok(statusView({ ...running, phase: 'stopped' }).error);
  assert.equal(statusView({ ...running, phase: 'missing', inFlight: 1 }).text, '$(error) ananke: not installed');
});

test('parseHealth reads the ananke.healthCheck result', () => {
  assert.deepEqual(parseHealth({ ok: true, engine: 'embedded', model: 'm', detail: 'd', self_test: {} }), {
    ok: true,
    engine: 'embedded',
    model: 'm',
    detail: 'd',
  });
  assert.equal(parseHealth(null), undefined);
  assert.equal(parseHealth({ ok: 'yes', engine: 'x' }), undefined);
});

test('InFlight counts until settled, failures included', async () => {
  const seen: number[] = [];
  const inFlight = new InFlight((count) => seen.push(count));
  let finish!: (value: string) => void;
  const pending = inFlight.track(
    new Promise<string>((resolve) => {
      finish = resolve;
    }),
  );
  assert.equal(inFlight.count, 1);
  await assert.rejects(inFlight.track(Promise.reject(new Error('cancelled'))));
  finish('done');
  assert.equal(await pending, 'done');
  assert.equal(await inFlight.track(null), null);
  assert.equal(inFlight.count, 0);
  assert.deepEqual(seen, [1, 2, 1, 0, 1, 0]);
});
