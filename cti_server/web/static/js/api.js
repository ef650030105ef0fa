// The REST API (/api/v1, see notes/API_CONTRACT.md): fetch with the bearer token, JSON in and
// out, and one error path: {"error", "detail"} becomes an ApiError and a toast with the
// server's own detail text (it names the field or the rule), so the page never shows
// "something went wrong" when the server said what.

import { t, tOr } from './i18n.js';
import { noteServerDate } from './time.js';
import { toast } from './ui.js';

export const BASE = '/api/v1';
const SESSION_KEY = 'cti.session';

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter = null) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

/** The signed-in session ({token, expires_at, user}) kept in sessionStorage: one tab, one
 * login, gone when the tab closes (a shared desk PC does not stay signed in). */
export const session = {
  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
      if (!saved || !saved.token) return null;
      const expires = Date.parse(saved.expires_at || '');
      if (!Number.isNaN(expires) && expires <= Date.now()) return null;
      return saved;
    } catch {
      return null;
    }
  },
  save(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
  token() {
    return this.load()?.token ?? null;
  },
};

let unauthorized = () => {};

/** What to do when the token is refused (expired, revoked): the page shows its login. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function messageFor(status, code, detail) {
  if (detail) return detail;
  if (status === 403) return t('error.forbidden');
  if (status === 503) return t('error.standby');
  return tOr(`error.${code}`, t('error.generic', { status }));
}

/**
 * One API call. Options: body (sent as JSON), quiet (no toast on error), raw (return the
 * Response itself, for audio). Resolves to the parsed JSON (null for 204).
 */
export async function request(method, path, { body, quiet = false, raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    const error = new ApiError(0, 'network', t('error.network'));
    if (!quiet) toast(error.detail, 'error');
    throw error;
  }
  noteServerDate(response.headers.get('Date'));
  if (response.ok && raw) return response;
  if (response.status === 204) return null;
  const isJson = (response.headers.get('Content-Type') || '').includes('json');
  const data = isJson ? await response.json().catch(() => null) : null;
  if (response.ok) return data;
  const code = (data && data.error) || `http_${response.status}`;
  const retry = Number(response.headers.get('Retry-After')) || null;
  const error = new ApiError(response.status, code, messageFor(response.status, code, data && data.detail), retry);
  if (response.status === 401 && path !== '/auth/login') {
    unauthorized(error);
    throw error;
  }
  if (!quiet) toast(error.detail, 'error');
  throw error;
}

export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, body = {}, options) => request('POST', path, { ...options, body }),
  /** A binary resource (a voice message) fetched with the token, as a Blob. */
  async blob(path, options) {
    const response = await request('GET', path, { ...options, raw: true });
    return response.blob();
  },
};

/** Path segment escaping for ids that come from the server. */
export const seg = (value) => encodeURIComponent(String(value));
