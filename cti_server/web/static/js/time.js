// Times as the contact center reads them: in its configured zone (GET /health `timezone`,
// else Asia/Seoul) whatever the browser's own zone, and durations measured on the server's
// clock (the offset learnt from each response's Date header), so a desk PC whose clock is
// a minute off still shows a true "time in state".

import { lang } from './i18n.js';

const DEFAULT_ZONE = 'Asia/Seoul';
let zone = DEFAULT_ZONE;
let offsetMs = 0; // server clock minus ours
const formatters = new Map();

export function timeZone() {
  return zone;
}

export function setTimeZone(name) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    zone = name;
    formatters.clear();
  } catch {
    zone = DEFAULT_ZONE; // an unknown zone name: keep the default rather than fail
  }
}

/** Learn the server's clock from a response Date header (second resolution: ignore < 2 s). */
export function noteServerDate(header) {
  const server = Date.parse(header || '');
  if (Number.isNaN(server)) return;
  const diff = server - Date.now();
  offsetMs = Math.abs(diff) < 2000 ? 0 : diff;
}

/** Now, in ms since the epoch, on the server's clock. */
export function serverNow() {
  return Date.now() + offsetMs;
}

/** A server time (ISO-8601 string or epoch seconds) as ms since the epoch; null if none. */
export function toMs(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value > 1e12 ? value : value * 1000;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

function formatter(kind) {
  const key = `${lang()}|${kind}`;
  let f = formatters.get(key);
  if (!f) {
    const base = { timeZone: zone, hourCycle: 'h23' };
    const options = {
      time: { ...base, hour: '2-digit', minute: '2-digit', second: '2-digit' },
      short: { ...base, hour: '2-digit', minute: '2-digit' },
      datetime: { ...base, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' },
      date: { ...base, year: 'numeric', month: '2-digit', day: '2-digit' },
      zone: { timeZone: zone, timeZoneName: 'short' },
    }[kind];
    f = new Intl.DateTimeFormat(lang() === 'ko' ? 'ko-KR' : 'en-GB', options);
    formatters.set(key, f);
  }
  return f;
}

/** '14:05:09' in the center's zone. */
export function formatTime(value, kind = 'time') {
  const ms = toMs(value);
  return ms === null ? '—' : formatter(kind).format(ms);
}

/** Short date and time ('06. 14. 09:30'): lists of past events. */
export function formatDateTime(value) {
  return formatTime(value, 'datetime');
}

/** The zone's short name ('KST'; the IANA name when the locale has none). */
export function zoneLabel() {
  if (zone === 'Asia/Seoul') return 'KST'; // most locales only know it as GMT+9
  const part = formatter('zone').formatToParts(serverNow()).find((p) => p.type === 'timeZoneName');
  return part ? part.value : zone;
}

/** Seconds as 'm:ss', or 'h:mm:ss' past an hour; '—' when unknown. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const EPOCH_FLOOR = Date.UTC(2000, 0, 1); // an agent never seen has `since` at the epoch

/** Seconds elapsed since a server time, on the server's clock (null when unknown). */
export function secondsSince(value) {
  const ms = toMs(value);
  return ms === null || ms < EPOCH_FLOOR ? null : Math.max(0, (serverNow() - ms) / 1000);
}
