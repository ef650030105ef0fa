// The screen pop card: who is calling, how the IVR authenticated them (so the agent does not
// ask again), their past inquiries, usual payment method and frequent products.
// The server's pop is read tolerantly: the contract's {customer:{...}, history, payment_method}
// and crm/screenpop.py's flat {name, inquiries, usual_payment} shapes both render.

import { t, tOr } from '../i18n.js';
import { formatDateTime } from '../time.js';
import { $, fill, h } from '../ui.js';
import { numberButton } from './dialpad.js';

export function normalizePop(pop) {
  if (!pop || typeof pop !== 'object') return null;
  const c = pop.customer && typeof pop.customer === 'object' ? pop.customer : {};
  const pick = (...names) => {
    for (const name of names) {
      if (c[name] !== undefined && c[name] !== null) return c[name];
      if (pop[name] !== undefined && pop[name] !== null) return pop[name];
    }
    return null;
  };
  return {
    id: c.id ?? pop.customer_id ?? null,
    number: pick('customer_number'),
    name: pick('name'),
    grade: pick('grade'),
    segment: pick('segment'),
    vip: Boolean(pick('vip')),
    phone: pick('phone'),
    assigned: pick('assigned_agent'),
    nationalId: pick('national_id_masked'),
    authMethod: pick('auth_method'),
    authOutcome: pick('auth_outcome'),
    history: asList(pop.history ?? pop.inquiries),
    payment: pop.payment_method ?? pop.usual_payment ?? null,
    products: asList(pop.frequent_products),
  };
}

const asList = (value) => (Array.isArray(value) ? value : []);

function paymentText(payment) {
  if (!payment) return null;
  if (typeof payment === 'string') return payment;
  return payment.label || payment.name || payment.kind || null;
}

/** 'customer_number+pin' -> '고객번호 + PIN' (each part translated when the dictionary knows it). */
export function authLabel(method) {
  return method.split('+').map((part) => tOr(`pop.auth.${part}`, part)).join(' + ');
}

function authTag(pop) {
  const method = pop.authMethod || '';
  if (!method || method === 'none') return { text: t('pop.auth.none'), kind: 'muted' };
  const failed = pop.authOutcome && !['ok', 'success', 'authenticated', 'passed'].includes(pop.authOutcome);
  return failed
    ? { text: `${t('pop.auth.failed')} (${authLabel(method)})`, kind: 'warn' }
    : { text: `✓ ${authLabel(method)}`, kind: 'ok' };
}

export class ScreenPop {
  constructor() {
    this.pop = null;
    this.callerNumber = null;
  }

  show(rawPop, callerNumber) {
    this.pop = normalizePop(rawPop);
    this.callerNumber = callerNumber;
    this.render();
  }

  clear() {
    this.pop = null;
    this.render();
  }

  render() {
    const pop = this.pop;
    const body = $('#pop-body');
    const tag = $('#pop-auth');
    $('#pop-empty').hidden = Boolean(pop);
    body.hidden = !pop;
    if (!pop) {
      fill(body);
      fill(tag);
      tag.className = 'tag';
      return;
    }
    const auth = authTag(pop);
    fill(tag, auth.text);
    tag.className = `tag tag-${auth.kind}`;
    tag.title = t('pop.auth');
    fill(body, this.head(pop), this.facts(pop), this.predictions(pop), this.history(pop));
  }

  head(pop) {
    const grade = pop.grade || pop.segment;
    return h('div', { class: 'pop-head' },
      h('span', { class: 'customer-name' }, pop.name || t('pop.unknown')),
      pop.vip ? h('span', { class: 'badge badge-vip' }, t('pop.vip')) : null,
      grade ? h('span', { class: 'badge', title: t('pop.grade') }, tOr(`pop.segment.${grade}`, grade)) : null);
  }

  facts(pop) {
    const rows = [];
    const add = (label, value) => {
      if (value) rows.push(h('dt', {}, label), h('dd', {}, value));
    };
    add(t('pop.customer_no'), pop.number || pop.id);
    const phone = pop.phone || this.callerNumber;
    add(t('pop.phone'), phone ? numberButton(phone, pop.id) : null);
    add(t('pop.assigned'), pop.assigned);
    add(t('pop.national_id'), pop.nationalId);
    return h('dl', { class: 'kv' }, rows);
  }

  predictions(pop) {
    const payment = paymentText(pop.payment);
    const products = pop.products.map((p) => (typeof p === 'string' ? { name: p } : p));
    return h('div', { class: 'pop-predict' },
      h('div', {},
        h('h3', {}, t('pop.payment')),
        h('p', { class: 'payment' }, payment || '—')),
      h('div', {},
        h('h3', {}, t('pop.products')),
        products.length
          ? h('ul', { class: 'chips' }, products.map((p) => h('li', { class: 'chip', title: p.code || '' },
            p.name || p.code,
            p.times_ordered ? h('span', { class: 'chip-count' }, t('pop.products.times', { n: p.times_ordered })) : null)))
          : h('p', { class: 'muted' }, '—')));
  }

  history(pop) {
    const items = pop.history;
    return h('div', { class: 'pop-history' },
      h('h3', {}, t('pop.history')),
      items.length
        ? h('table', { class: 'table compact' },
          h('thead', {}, h('tr', {},
            h('th', {}, t('pop.history.when')),
            h('th', {}, t('pop.history.category')),
            h('th', {}, t('pop.history.summary')),
            h('th', {}, t('pop.history.result')))),
          h('tbody', {}, items.map((item) => h('tr', {},
            h('td', { class: 'tabular nowrap' }, formatDateTime(item.at ?? item.created_at)),
            h('td', {}, [item.category, item.channel && tOr(`pop.channel.${item.channel}`, item.channel)].filter(Boolean).join(' · ') || '—'),
            h('td', { title: item.notes || '' }, item.summary || item.text || '—'),
            h('td', {}, item.disposition ? tOr(`dispo.code.${item.disposition}`, item.disposition) : '—')))))
        : h('p', { class: 'muted' }, t('pop.history.none')));
  }
}
