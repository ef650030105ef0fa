// Click-to-call: the dial pad, and dial() for every clickable number on the desktop (the
// screen pop, callbacks, voice messages, recent calls). POST /calls/dial rings the agent's
// own phone first, then the customer.

import { api } from '../api.js';
import { t } from '../i18n.js';
import { $, busy, fill, h, toast } from '../ui.js';

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const VALID = /^\+?[0-9*#]{1,32}$/;

/** Strip what people paste around a number (spaces, dashes, brackets). */
export function cleanNumber(text) {
  return String(text || '').replace(/[\s\-().]/g, '');
}

/** A Korean number grouped for reading (010-1234-5678, 02-123-4567, 1588-1234); anything
 * else as it is. Display only: dialing always uses the digits. */
export function formatPhone(number) {
  const n = cleanNumber(number);
  const groups = [
    [/^(01[016789])(\d{3,4})(\d{4})$/, 3],
    [/^(02)(\d{3,4})(\d{4})$/, 3],
    [/^(0[3-9]\d)(\d{3,4})(\d{4})$/, 3],
    [/^(1[5-9]\d{2})(\d{4})$/, 2],
  ];
  for (const [pattern, count] of groups) {
    const m = n.match(pattern);
    if (m) return m.slice(1, count + 1).join('-');
  }
  return String(number || '');
}

export async function dial(number, customerId = null, button = null) {
  const clean = cleanNumber(number);
  if (!VALID.test(clean)) {
    toast(t('dial.invalid'), 'error');
    return null;
  }
  const body = { number: clean };
  if (customerId) body.customer_id = String(customerId);
  const result = await busy(button, () => api.post('/calls/dial', body)).catch(() => null);
  if (result) toast(t('dial.started', { number: formatPhone(clean) }), 'ok');
  return result;
}

export function setupDialpad() {
  const input = $('#dial-number');
  const form = $('#dial-form');
  fill($('#keypad'), KEYS.map((key) => h('button', {
    type: 'button',
    class: 'key',
    dataset: { key },
    onclick: () => {
      input.value += key;
      input.focus();
    },
  }, key)));
  $('#dial-back').addEventListener('click', () => {
    input.value = input.value.slice(0, -1);
    input.focus();
  });
  input.addEventListener('input', () => {
    input.setCustomValidity(VALID.test(cleanNumber(input.value)) || !input.value ? '' : t('dial.invalid'));
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const done = await dial(input.value, null, form.querySelector('[type=submit]'));
    if (done) input.value = '';
  });
}

/** A number rendered as a one-click call button. */
export function numberButton(number, customerId = null) {
  return h('button', {
    type: 'button',
    class: 'link-button tabular',
    title: t('action.call'),
    onclick: (event) => dial(number, customerId, event.currentTarget),
  }, `☎ ${formatPhone(number)}`);
}
