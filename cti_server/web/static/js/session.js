// What both pages share around their content: the language switch, the clock in the
// center's time zone, the connection indicator, and the sign-in / sign-out cycle (login form,
// token check on reload, expiry, a refused token sending the user back to the form).

import { api, ApiError, onUnauthorized, session } from './api.js';
import { adoptUserLanguage, applyI18n, lang, setLang, t } from './i18n.js';
import { formatTime, serverNow, setTimeZone, zoneLabel } from './time.js';
import { $, everySecond, fill } from './ui.js';

/**
 * @param {object} page
 * @param {(user: object) => string|null} page.refuse  an i18n key when this user may not use the page
 * @param {(user: object) => void|Promise<void>} page.onSignedIn
 * @param {() => void} page.onSignedOut  stop sockets and timers
 */
export async function setupPage({ refuse, onSignedIn, onSignedOut }) {
  applyI18n(document);
  const picker = $('#lang');
  picker.value = lang();
  picker.addEventListener('change', () => setLang(picker.value));
  document.addEventListener('langchange', () => {
    picker.value = lang();
  });

  await api.get('/health', { quiet: true })
    .then((health) => health && health.timezone && setTimeZone(health.timezone))
    .catch(() => {});
  const clock = $('#clock');
  everySecond(() => {
    clock.textContent = `${formatTime(serverNow())} ${zoneLabel()}`;
  });

  let expiry = null;
  let active = false;
  const form = $('#login-form');
  const message = $('#login-message');

  const showLogin = (note = '') => {
    document.body.classList.remove('signed-in');
    fill(message, note);
    message.hidden = !note;
    $('#login').hidden = false;
    $('#workspace').hidden = true;
    form.elements.password.value = '';
    (form.elements.username.value ? form.elements.password : form.elements.username).focus();
  };

  const signedIn = async (saved) => {
    adoptUserLanguage(saved.user.language);
    active = true;
    document.body.classList.add('signed-in');
    $('#login').hidden = true;
    $('#workspace').hidden = false;
    fill($('#user-name'), saved.user.display_name || saved.user.username);
    clearTimeout(expiry);
    const left = Date.parse(saved.expires_at || '') - Date.now();
    if (left > 0) expiry = setTimeout(() => signOut({ note: t('login.expired'), remote: false }), left);
    await onSignedIn(saved.user);
  };

  const signOut = async ({ note = '', remote = true } = {}) => {
    clearTimeout(expiry);
    active = false;
    onSignedOut();
    if (remote && session.token()) await api.post('/auth/logout', {}, { quiet: true }).catch(() => {});
    session.clear();
    showLogin(note);
  };

  onUnauthorized(() => {
    if (active) signOut({ note: t('login.expired'), remote: false });
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    message.hidden = true;
    try {
      const result = await api.post('/auth/login', {
        username: form.elements.username.value.trim(),
        password: form.elements.password.value,
      }, { quiet: true });
      const refusal = refuse(result.user);
      if (refusal) {
        session.save(result);
        await api.post('/auth/logout', {}, { quiet: true }).catch(() => {});
        session.clear();
        showLogin(t(refusal));
        return;
      }
      session.save({ token: result.token, expires_at: result.expires_at, user: result.user });
      await signedIn(session.load());
    } catch (error) {
      showLogin(loginError(error));
    } finally {
      button.disabled = false;
    }
  });

  const saved = session.load();
  if (saved) {
    try {
      const user = await api.get('/me', { quiet: true });
      saved.user = user;
      session.save(saved);
      if (!refuse(user)) {
        await signedIn(saved);
        return { signOut };
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      session.clear();
      showLogin(error.status === 401 ? t('login.expired') : error.detail);
      return { signOut };
    }
    session.clear();
  }
  showLogin();
  return { signOut };
}

function loginError(error) {
  if (!(error instanceof ApiError)) return String(error);
  if (error.status === 401) return t('login.failed');
  if (error.status === 429) return t('login.rate_limited', { seconds: error.retryAfter ?? 60 });
  return error.detail;
}

let lastStatus = 'down';
document.addEventListener('langchange', () => showConnection(lastStatus));

/** The header's connection indicator: live (green), connecting (amber), down (red). */
export function showConnection(status) {
  lastStatus = status;
  const box = $('#conn');
  box.dataset.status = status;
  fill($('.label', box), t(`conn.${status}`));
  box.title = t(`conn.${status}`);
}
