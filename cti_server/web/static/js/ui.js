// Small DOM helpers shared by both pages: an element builder that only ever sets text (no
// innerHTML anywhere, so a customer name can never become markup), toasts, modal dialogs,
// and one 1-second ticker that drives every live timer on the page.

import { t } from './i18n.js';

/** h('button', {class: 'btn', onclick: f}, 'text', child...) */
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'text') {
      el.textContent = value;
    } else {
      el.setAttribute(name === 'className' ? 'class' : name, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** A short message in the corner; errors stay longer and are announced assertively. */
export function toast(message, kind = 'info', ms = kind === 'error' ? 8000 : 4000) {
  const box = $('#toasts');
  if (!box) return;
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-text' }, message),
    h('button', { class: 'toast-close', type: 'button', 'aria-label': t('action.close'), onclick: () => item.remove() }, '×'));
  box.append(item);
  while (box.children.length > 5) box.firstElementChild.remove();
  setTimeout(() => item.remove(), ms);
}

/** Open a <dialog> modally; resolves with its returnValue ('' when dismissed with Esc). */
export function openDialog(dialog) {
  return new Promise((resolve) => {
    const done = () => {
      dialog.removeEventListener('close', done);
      resolve(dialog.returnValue);
    };
    dialog.returnValue = '';
    dialog.addEventListener('close', done);
    dialog.showModal();
    const first = dialog.querySelector('[autofocus], input:not([type=hidden]), select, button');
    if (first) first.focus();
  });
}

/** A yes/no question in the shared confirm dialog. */
export async function confirmAsk(message) {
  const dialog = $('#dlg-confirm');
  fill($('.confirm-text', dialog), message);
  return (await openDialog(dialog)) === 'ok';
}

/** Disable a button while its action runs (no double-submits on a slow network). */
export async function busy(button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } finally {
    if (button) button.disabled = false;
  }
}

const tickers = new Set();
let tickHandle = null;

/** Call fn every second (aligned to the second) until the returned function is called. */
export function everySecond(fn) {
  tickers.add(fn);
  if (tickHandle === null) {
    const tick = () => {
      for (const f of tickers) f();
      tickHandle = setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
    };
    tickHandle = setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  }
  fn();
  return () => tickers.delete(fn);
}

/** A function that runs fn once, `ms` after the first of a burst of calls: a replay of a
 * hundred events after a reconnect becomes one refresh. */
export function coalesce(fn, ms) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}
