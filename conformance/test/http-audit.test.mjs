// GraphQL over HTTP: the graphql-http audit suite against /graphql with a valid token.
// Every MUST audit has to pass; SHOULD/MAY misses are listed but do not fail the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditServer } from 'graphql-http';
import { httpURL, token } from './env.mjs';

const authorization = `Bearer ${token('acme')}`;

// The gateway authenticates every HTTP request, so the audit's requests carry acme's token.
function authedFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', authorization);
  return fetch(input, { ...init, headers });
}

async function describe(r) {
  if (r.status === 'ok') return `ok     ${r.name}`;
  let body = '';
  try {
    body = (await r.response.clone().text()).slice(0, 300);
  } catch {
    // The body may already be consumed by the audit; the reason is enough then.
  }
  const detail = r.response ? ` [HTTP ${r.response.status} ${r.response.headers.get('content-type') ?? ''}] ${body}` : '';
  return `${r.status.padEnd(6)} ${r.name}\n         reason: ${r.reason}${detail}`;
}

test('graphql-http audit: zero MUST failures', async (t) => {
  const results = await auditServer({ url: httpURL, fetchFn: authedFetch });
  assert.ok(results.length > 0, 'the audit returned no results');
  const lines = await Promise.all(results.map(describe));
  t.diagnostic(`graphql-http audit of ${httpURL}: ${results.length} audits`);
  for (const l of lines) console.log(l);

  const errors = results.filter((r) => r.status === 'error');
  const warnings = results.filter((r) => r.status === 'warn');
  const notices = results.filter((r) => r.status === 'notice');
  console.log(`\nsummary: ${results.length - errors.length - warnings.length - notices.length} ok, ` +
    `${errors.length} MUST failures, ${warnings.length} SHOULD warnings, ${notices.length} notices`);
  for (const w of warnings) t.diagnostic(`SHOULD warning: ${w.name}: ${w.reason}`);
  assert.deepEqual(errors.map((e) => `${e.id} ${e.name}: ${e.reason}`), [], 'MUST audits failed');
});
