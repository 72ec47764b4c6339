// Legacy graphql-ws sub-protocol with the real subscriptions-transport-ws client:
// subscribe, receive, unsubscribe, close; a bad token gets connection_error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import stws from 'subscriptions-transport-ws';
import WebSocket from 'ws';
import { wsURL, token, callEvents, within } from './env.mjs';

const { SubscriptionClient } = stws;

function client(bearer, connectionCallback) {
  return new SubscriptionClient(wsURL, {
    reconnect: false,
    connectionParams: { Authorization: `Bearer ${bearer}` },
    connectionCallback,
  }, WebSocket);
}

test('subscriptions-transport-ws: callEvents receives an event, unsubscribes and closes', async () => {
  let acked;
  const ack = new Promise((resolve, reject) => {
    acked = (err) => (err ? reject(new Error(`connection_error: ${JSON.stringify(err)}`)) : resolve());
  });
  const c = client(token('telavox'), (err) => acked(err));
  const disconnected = new Promise((resolve) => c.onDisconnected(resolve));
  try {
    await within(15_000, 'connection_ack', ack);
    let sub;
    const first = new Promise((resolve, reject) => {
      sub = c.request({ query: callEvents }).subscribe({
        next: (msg) => resolve(msg),
        error: (err) => reject(new Error(`subscription errored: ${JSON.stringify(err)}`)),
        complete: () => reject(new Error('subscription completed before any event')),
      });
    });
    const ev = await within(30_000, 'the first callEvents event', first);
    assert.equal(ev.errors, undefined, `event carried errors: ${JSON.stringify(ev.errors)}`);
    assert.equal(typeof ev.data?.callEvents?.call?.id, 'string', `unexpected event ${JSON.stringify(ev)}`);

    sub.unsubscribe(); // sends stop
    assert.deepEqual(Object.keys(c.operations), [], 'the operation is gone after unsubscribe');
    c.close(); // sends connection_terminate and closes the socket
    await within(10_000, 'the socket to close', disconnected);
    assert.equal(c.status, WebSocket.CLOSED);
  } finally {
    c.close();
  }
});

test('subscriptions-transport-ws: a query over the socket answers with the token tenant', async () => {
  const c = client(token('telavox'));
  try {
    const res = await within(15_000, 'the query result', new Promise((resolve, reject) => {
      let got;
      c.request({ query: '{ viewer { tenant } }' }).subscribe({
        next: (msg) => { got = msg; },
        error: (err) => reject(new Error(`query errored: ${JSON.stringify(err)}`)),
        complete: () => resolve(got),
      });
    }));
    assert.deepEqual(res, { data: { viewer: { tenant: 'telavox' } } });
  } finally {
    c.close();
  }
});

test('subscriptions-transport-ws: a bad token gets connection_error', async () => {
  let failed;
  const rejected = new Promise((resolve) => { failed = resolve; });
  const c = client('not-a-jwt', (err) => failed(err ?? null));
  const disconnected = new Promise((resolve) => c.onDisconnected(resolve));
  try {
    const payload = await within(15_000, 'connection_error', rejected);
    assert.ok(payload, 'the server acknowledged a bad token instead of connection_error');
    assert.equal(typeof payload.message, 'string', `connection_error payload: ${JSON.stringify(payload)}`);
    await within(10_000, 'the server to close the socket', disconnected);
  } finally {
    c.close();
  }
});
