// The live event feed: WebSocket /api/v1/events?token=&cursor=, reconnecting with
// exponential backoff and jitter (a restarted server is not hit by every desk at once).
// The last seq seen is kept in sessionStorage, so a reload or a reconnect asks the server for
// what it missed; a "gap" frame (the cursor is older than what the server keeps) tells the
// page to reload its state over REST. Heartbeats carry the server's position for this client
// and move the cursor too. A socket silent for three heartbeats is treated as dead.

import { BASE } from './api.js';

const MIN_DELAY = 1000;
const MAX_DELAY = 30000;
const SILENCE_LIMIT = 45000; // heartbeats come every 15 s

export class EventStream {
  /**
   * @param {object} options
   * @param {() => string|null} options.token  the bearer token (read at each connect)
   * @param {string} options.cursorKey  sessionStorage key for the last seq seen
   * @param {(name: string, data: object, seq: number) => void} options.onEvent
   * @param {(status: 'connecting'|'live'|'down') => void} options.onStatus
   * @param {() => void} options.onGap  the server could not replay everything: resync
   */
  constructor({ token, cursorKey, onEvent, onStatus = () => {}, onGap = () => {} }) {
    this.token = token;
    this.cursorKey = cursorKey;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onGap = onGap;
    this.socket = null;
    this.delay = MIN_DELAY;
    this.retryTimer = null;
    this.watchdog = null;
    this.stopped = true;
    this.status = 'down';
    this.online = () => this.reconnectNow();
  }

  get cursor() {
    const value = Number(sessionStorage.getItem(this.cursorKey));
    return Number.isFinite(value) && value > 0 ? value : null;
  }

  set cursor(seq) {
    sessionStorage.setItem(this.cursorKey, String(seq));
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.online);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.online);
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, 'bye');
      this.socket = null;
    }
    this.setStatus('down');
  }

  /** Forget the cursor (a new login starts from now; the page loads state over REST). */
  resetCursor() {
    sessionStorage.removeItem(this.cursorKey);
  }

  reconnectNow() {
    if (this.stopped || this.status === 'live') return;
    clearTimeout(this.retryTimer);
    this.delay = MIN_DELAY;
    this.connect();
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = new URLSearchParams({ token: this.token() || '', cursor: this.cursor ?? '' });
    return `${scheme}//${location.host}${BASE}/events?${query}`;
  }

  connect() {
    if (this.stopped) return;
    this.setStatus('connecting');
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.setStatus('live');
      this.feedWatchdog();
    };
    socket.onmessage = (message) => {
      this.delay = MIN_DELAY; // a frame arrived: the link works, reset the backoff
      this.feedWatchdog();
      this.receive(message.data);
    };
    socket.onclose = () => {
      if (this.socket === socket) this.socket = null;
      clearTimeout(this.watchdog);
      this.setStatus('down');
      this.scheduleRetry();
    };
    socket.onerror = () => {}; // onclose follows and handles it
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === 'heartbeat') {
      // The server's position for this client (events skipped as not ours included): a
      // safe cursor to reconnect with.
      const seq = Number(frame.seq);
      if (Number.isFinite(seq) && seq > (this.cursor ?? 0)) this.cursor = seq;
      return;
    }
    if (frame.type === 'gap') {
      this.onGap(frame);
      return;
    }
    const seq = Number(frame.seq);
    if (!frame.event) return;
    if (Number.isFinite(seq)) {
      const last = this.cursor;
      if (last !== null && seq <= last) return; // already seen (a replay overlapping live)
      this.cursor = seq;
    }
    try {
      this.onEvent(frame.event, frame.data || {}, seq);
    } catch (error) {
      console.warn('event handler failed', frame.event, error);
    }
  }

  feedWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.socket) this.socket.close(4000, 'silent');
    }, SILENCE_LIMIT);
  }

  scheduleRetry() {
    if (this.stopped) return;
    const jitter = this.delay * (0.8 + Math.random() * 0.4);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), jitter);
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }
}
