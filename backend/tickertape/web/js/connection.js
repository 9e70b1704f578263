// One logical connection to /ws that survives network loss: it opens the socket,
// authenticates, and reconnects with backoff. It knows nothing about replies; the
// ChatSession (session.js) listens for `hello` and re-sends / resumes from there.
//
// States (see docs/frontend.md for the diagram):
//   connecting     socket opening, or open and waiting for `hello`
//   open           `hello` received; frames may be sent
//   reconnecting   waiting for the backoff timer (attempt = n)
//   offline        like reconnecting, but the browser says there is no network
//   auth_required  closed with 1008; nothing happens until start() is called again
//   stopped        stop() was called
//
// Events (CustomEvent.detail): state {state, attempt, delayMs}, hello {frame},
// frame {frame}, auth-required {}.

import { backoffDelay } from './backoff.js';
import { CLOSE_CODES, frames } from './protocol.js';

const HELLO_TIMEOUT_MS = 10000; // server auth timeout is 5 s; give it room
const HEARTBEAT_INTERVAL_MS = 25000;
const PONG_TIMEOUT_MS = 8000;

export function defaultWsUrl(path = '/ws') {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

export class Connection extends EventTarget {
  // getAuthFrame: () => frame | null, called on every connect so a new token is picked up.
  constructor({ url = defaultWsUrl(), getAuthFrame = () => null } = {}) {
    super();
    this.url = url;
    this.getAuthFrame = getAuthFrame;
    this.state = 'stopped';
    this.attempt = 0;
    this.ws = null;
    this.retryTimer = null;
    this.helloTimer = null;
    this.heartbeatTimer = null;
    this.pongTimer = null;
    this.pingCounter = 0;
    this.awaitingPong = null;

    // The browser's hints about the network: act on them rather than waiting for a
    // TCP timeout, which on a phone that slept can take minutes.
    window.addEventListener('online', () => this.#onOnline());
    window.addEventListener('offline', () => this.#onOffline());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.#onVisible();
    });
  }

  get isOpen() {
    return this.state === 'open';
  }

  start() {
    this.attempt = 0;
    this.#connect();
  }

  stop() {
    this.#clearTimers();
    this.#detach(CLOSE_CODES.NORMAL, 'client stop');
    this.#setState('stopped');
  }

  // Sends a frame if the session is established; returns false otherwise so the caller
  // can keep it for after the next `hello`.
  send(frame) {
    if (this.state !== 'open' || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Skip the rest of the backoff wait (used by online / visibility / a "retry now" click).
  reconnectNow() {
    if (this.state === 'reconnecting' || this.state === 'offline') {
      this.#connect();
    }
  }

  #setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(
      new CustomEvent('state', { detail: { state, attempt: this.attempt, ...extra } }),
    );
  }

  #connect() {
    this.#clearTimers();
    this.#detach(CLOSE_CODES.NORMAL, 'reconnecting');
    this.#setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (ws !== this.ws) return;
      const authFrame = this.getAuthFrame();
      if (authFrame) ws.send(JSON.stringify(authFrame));
      // Without `hello` the socket is useless; don't sit on it forever.
      this.helloTimer = setTimeout(() => this.#abandon(), HELLO_TIMEOUT_MS);
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      this.#onMessage(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.#onClose(event.code);
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  #onMessage(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // the contract says JSON only; ignore garbage rather than crash
    }
    if (!frame || typeof frame.type !== 'string') return;
    if (frame.type === 'hello') {
      clearTimeout(this.helloTimer);
      this.attempt = 0;
      this.#setState('open');
      this.#startHeartbeat();
      this.dispatchEvent(new CustomEvent('hello', { detail: { frame } }));
      return;
    }
    if (frame.type === 'pong') {
      if (frame.data === this.awaitingPong) {
        this.awaitingPong = null;
        clearTimeout(this.pongTimer);
      }
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: { frame } }));
  }

  #onClose(code) {
    this.#clearTimers();
    if (this.state === 'stopped') return;
    if (code === CLOSE_CODES.POLICY) {
      this.#setState('auth_required');
      this.dispatchEvent(new CustomEvent('auth-required'));
      return;
    }
    // 1012 (restarting), 1011, 1006 (network) and everything else: retry.
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    this.attempt += 1;
    const delayMs = backoffDelay(this.attempt);
    const state = navigator.onLine === false ? 'offline' : 'reconnecting';
    this.#setState(state, { delayMs });
    // Even when "offline" keep a timer: navigator.onLine is only a hint and can be wrong.
    this.retryTimer = setTimeout(() => this.#connect(), delayMs);
  }

  // Drop the current socket without waiting for a close handshake that may never come
  // (dead network), then go through the normal reconnect path.
  #abandon() {
    if (this.state === 'stopped' || this.state === 'auth_required') return;
    this.#detach(4000, 'abandoned');
    this.#clearTimers();
    this.#scheduleReconnect();
  }

  #detach(code, reason) {
    const ws = this.ws;
    this.ws = null; // handlers check `ws !== this.ws` and go quiet
    if (ws && ws.readyState <= WebSocket.OPEN) {
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
    }
  }

  #startHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.#checkLiveness(), HEARTBEAT_INTERVAL_MS);
  }

  // App-level ping: the browser answers the server's protocol pings itself, but only a
  // `pong` we asked for proves that frames still flow in both directions.
  #checkLiveness() {
    if (this.state !== 'open' || this.awaitingPong) return;
    this.pingCounter += 1;
    const data = `hb-${this.pingCounter}`;
    if (!this.send(frames.ping(data))) return;
    this.awaitingPong = data;
    this.pongTimer = setTimeout(() => this.#abandon(), PONG_TIMEOUT_MS);
  }

  #onOnline() {
    if (this.state === 'reconnecting' || this.state === 'offline') this.#connect();
  }

  #onOffline() {
    // The socket cannot carry frames without a network; a dead socket may not report a
    // close for minutes. Give it up now; the reply goes on server-side (on_disconnect
    // "continue") and is resumed when we are back.
    if (this.state === 'open' || this.state === 'connecting') this.#abandon();
    else if (this.state === 'reconnecting') this.#setState('offline');
  }

  #onVisible() {
    if (this.state === 'reconnecting' || this.state === 'offline') this.#connect();
    else if (this.state === 'open') this.#checkLiveness(); // the tab may have slept
  }

  #clearTimers() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.helloTimer);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.pongTimer);
    this.awaitingPong = null;
  }
}
