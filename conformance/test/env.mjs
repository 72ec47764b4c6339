// Shared setup: where the gateway runs and the demo tokens, from run.sh's environment.
import { readFileSync } from 'node:fs';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through conformance/run.sh`);
  return v;
}

export const baseURL = required('SWITCHBOARD_URL').replace(/\/+$/, '');
export const httpURL = `${baseURL}/graphql`;
export const wsURL = httpURL.replace(/^http/, 'ws');

const tokens = JSON.parse(readFileSync(required('SWITCHBOARD_TOKENS'), 'utf8'));

/** The demo token of a tenant; kind is "full" or "basic". */
export function token(tenant, kind = 'full') {
  const t = tokens[tenant]?.[kind];
  if (!t) throw new Error(`tokens file has no ${kind} token for tenant ${tenant}`);
  return t;
}

export const callEvents = 'subscription { callEvents { seq kind call { id } } }';

/** Rejects after ms with a message naming what was awaited, so a hang fails clearly. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
