// GraphQL over HTTP rules the graphql-http audit does not check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpURL, token } from './env.mjs';

const GQL_RESPONSE = 'application/graphql-response+json';
const bearer = { authorization: `Bearer ${token('acme')}` };

async function post(body, headers = {}) {
  const res = await fetch(httpURL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: GQL_RESPONSE, ...headers },
    body: JSON.stringify(body),
  });
  return { res, json: await res.json() };
}

test('a request without a token is refused with 401, WWW-Authenticate and UNAUTHENTICATED', async () => {
  // Spec, "URL": a server MAY forbid requests, e.g. to require authentication, with a 4xx.
  const { res, json } = await post({ query: '{ __typename }' });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
  assert.equal(json.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  assert.equal(json.data, undefined, 'a refused request has no data entry');
});

test('a valid query over graphql-response+json answers 200 with data', async () => {
  const { res, json } = await post({ query: '{ viewer { tenant } }' }, bearer);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/graphql-response\+json/);
  assert.deepEqual(json, { data: { viewer: { tenant: 'acme' } } });
});

test('a mutation over GET is refused with 405', async () => {
  const url = new URL(httpURL);
  url.searchParams.set('query', 'mutation { __typename }');
  const res = await fetch(url, { headers: { accept: GQL_RESPONSE, ...bearer } });
  assert.equal(res.status, 405);
});

test('an operation over the alias limit is a request error: 4xx, no data entry', async () => {
  const query = `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
  const { res, json } = await post({ query }, bearer);
  assert.equal(json.errors?.[0]?.extensions?.code, 'ALIAS_LIMIT_EXCEEDED');
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  assert.equal('data' in json, false, 'the response has a data entry');
});
