// graphql-transport-ws with the real graphql-ws client: subscribe, receive, complete; a
// query over the socket; an operation error; a rejected token closes with 4403.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { wsURL, token, callEvents, within } from './env.mjs';

function client(bearer, on = {}) {
  return createClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${bearer}` },
    retryAttempts: 0,
    on,
  });
}

// Resolves with the socket's close event, so a test can assert the code it closed with.
function closedOnce() {
  let resolve;
  const closed = new Promise((r) => { resolve = r; });
  return { closed, on: { closed: (event) => resolve(event) } };
}

test('graphql-ws: callEvents subscription receives an event and completes cleanly', async () => {
  const { closed, on } = closedOnce();
  const c = client(token('telavox'), on);
  try {
    const events = [];
    let unsubscribe;
    const first = new Promise((resolve, reject) => {
      unsubscribe = c.subscribe({ query: callEvents }, {
        next: (msg) => {
          events.push(msg);
          resolve();
        },
        error: (err) => reject(new Error(`subscription errored: ${JSON.stringify(err?.code ?? err)}`)),
        complete: () => reject(new Error('subscription completed before any event')),
      });
    });
    await within(30_000, 'the first callEvents event', first);
    const ev = events[0];
    assert.equal(ev.errors, undefined, `event carried errors: ${JSON.stringify(ev.errors)}`);
    assert.ok(ev.data?.callEvents, `event has no data.callEvents: ${JSON.stringify(ev)}`);
    const { seq, kind, call } = ev.data.callEvents;
    assert.ok(seq !== null && seq !== undefined, 'event has no seq');
    assert.match(kind, /^[A-Z_]+$/, 'kind is an enum value');
    assert.equal(typeof call?.id, 'string', 'event names the call');

    // Unsubscribing sends complete; a lazy client with nothing left closes with 1000.
    unsubscribe();
    const event = await within(10_000, 'the socket to close after complete', closed);
    assert.equal(event.code, 1000, `closed with ${event.code} ${event.reason}`);
  } finally {
    await c.dispose();
  }
});

test('graphql-ws: a query over the socket answers with the token tenant', async () => {
  const c = client(token('telavox'));
  try {
    const it = c.iterate({ query: '{ viewer { tenant } }' });
    const res = await within(15_000, 'the query result', it.next());
    assert.equal(res.done, false, 'the query completed without a result');
    assert.deepEqual(res.value, { data: { viewer: { tenant: 'telavox' } } });
    const end = await within(15_000, 'the query to complete', it.next());
    assert.equal(end.done, true, 'a query sends exactly one result, then complete');
  } finally {
    await c.dispose();
  }
});

test('graphql-ws: an invalid operation ends with error, the connection stays usable', async () => {
  const c = client(token('telavox'));
  try {
    const err = await within(15_000, 'the operation error', new Promise((resolve, reject) => {
      c.subscribe({ query: 'subscription { noSuchField }' }, {
        next: (msg) => reject(new Error(`unexpected next: ${JSON.stringify(msg)}`)),
        error: resolve,
        complete: () => reject(new Error('complete instead of error')),
      });
    }));
    assert.ok(Array.isArray(err), `error is the GraphQL errors array, got ${JSON.stringify(err)}`);
    assert.ok(err.length > 0 && typeof err[0].message === 'string');

    const it = c.iterate({ query: '{ __typename }' });
    const res = await within(15_000, 'a query after the error', it.next());
    assert.deepEqual(res.value, { data: { __typename: 'Query' } });
  } finally {
    await c.dispose();
  }
});

test('graphql-ws: a bad token is rejected with close code 4403', async () => {
  const { closed, on } = closedOnce();
  const c = client('not-a-jwt', on);
  try {
    const err = await within(15_000, 'the rejection', new Promise((resolve, reject) => {
      c.subscribe({ query: callEvents }, {
        next: (msg) => reject(new Error(`a bad token received data: ${JSON.stringify(msg)}`)),
        error: resolve,
        complete: () => reject(new Error('completed instead of being rejected')),
      });
    }));
    const event = await within(5_000, 'the close event', closed);
    assert.equal(event.code, 4403, `closed with ${event.code} ${event.reason}`);
    assert.equal(err?.code, 4403, 'the subscription fails with the close event');
  } finally {
    await c.dispose();
  }
});
