// Reconnect delays: exponential growth with jitter so that a server restart is not met by
// every client reconnecting in the same millisecond.

export const BACKOFF_DEFAULTS = Object.freeze({ baseMs: 500, capMs: 15000 });

// attempt is 1 for the first retry. "Equal jitter": half the window fixed, half random,
// so a retry never fires immediately yet clients still spread out.
export function backoffDelay(attempt, { baseMs, capMs } = BACKOFF_DEFAULTS, random = Math.random) {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
