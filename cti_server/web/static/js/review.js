// Recording review (/review/): search recorded calls (date, agent, queue, customer, length,
// outcome, disposition), open one to hear it beside its call timeline, and evaluate it.
// Supervisors search everyone's recordings and score them; an agent sees its own recordings,
// their evaluations, and replies to them. ?recording=<id> in the address opens one directly.

import './review_i18n.js';
import { api, seg } from './api.js';
import { t, tOr } from './i18n.js';
import { EvaluationPanel } from './review/evaluation.js';
import { Player } from './review/player.js';
import { setupPage } from './session.js';
import { formatDuration, formatTime } from './time.js';
import { $, busy, fill, h } from './ui.js';

const OUTCOMES = [
  'answered', 'voice_message', 'callback_requested', 'abandoned_ringing', 'abandoned_in_queue',
  'overflowed', 'abandoned_in_ivr', 'ivr_completed', 'rejected', 'failed',
];
const PAGE = 100;

const ctx = { user: null, items: [], query: '', more: false, selected: null };
const player = new Player();
const evaluations = new EvaluationPanel({ onSaved: () => refreshRow() });

const supervises = (user) => ['supervisor', 'admin'].includes(user.role);
const outcomeLabel = (outcome) => (outcome ? tOr(`review.outcome.${outcome}`, outcome) : '—');

/** 'YYYY-MM-DD' plus one day: the page's "to" date includes that day; the API's is exclusive. */
export function dayAfter(date) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

function fillOutcomes() {
  const select = $('#f-outcome');
  const value = select.value;
  fill(select, h('option', { value: '' }, t('review.f.any')), OUTCOMES.map((o) => h('option', { value: o }, outcomeLabel(o))));
  select.value = value;
}

function queryString() {
  const form = $('#search-form').elements;
  const params = new URLSearchParams();
  const text = (name) => form[name].value.trim();
  if (text('from')) params.set('from', text('from'));
  if (text('to')) params.set('to', dayAfter(text('to')));
  for (const name of ['queue', 'customer_id', 'outcome', 'disposition']) if (text(name)) params.set(name, text(name));
  if (supervises(ctx.user) && text('agent_id')) params.set('agent_id', text('agent_id'));
  if (text('min')) params.set('min_duration', String(Math.round(Number(text('min')) * 60)));
  if (text('max')) params.set('max_duration', String(Math.round(Number(text('max')) * 60)));
  return params.toString();
}

async function search({ append = false } = {}) {
  if (!append) ctx.query = queryString();
  const offset = append ? ctx.items.length : 0;
  const params = new URLSearchParams(ctx.query);
  params.set('limit', String(PAGE));
  if (offset) params.set('offset', String(offset));
  const found = await api.get(`/review/recordings?${params}`);
  ctx.items = append ? ctx.items.concat(found.recordings) : found.recordings;
  ctx.more = found.more;
  renderResults();
}

function renderResults() {
  const body = $('#results-body');
  fill(body, ctx.items.map((r) => h('tr', {
    class: r.id === ctx.selected ? 'selected' : '',
    tabindex: 0,
    dataset: { recording: r.id, call: r.call_id },
    onclick: () => open(r.id).catch(() => {}),
    onkeydown: (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open(r.id).catch(() => {});
      }
    },
  },
  h('td', { class: 'nowrap tabular' }, `${formatTime(r.started_at, 'date')} ${formatTime(r.started_at)}`),
  h('td', {}, r.agent_id ?? '—'),
  h('td', {}, r.queue ?? '—'),
  h('td', { class: 'tabular' }, r.caller ?? '—'),
  h('td', { class: 'num tabular' }, formatDuration(r.duration_s)),
  h('td', {}, outcomeLabel(r.outcome)),
  h('td', {}, r.dispositions.length ? h('ul', { class: 'chips' }, r.dispositions.map((d) => h('li', { class: 'chip' }, d))) : '—'),
  h('td', { class: 'nowrap' }, r.evaluations ? t('review.score_cell', { n: r.evaluations, mean: Number(r.score_mean).toFixed(1) }) : '—'))));
  $('#results-empty').hidden = ctx.items.length > 0;
  $('#btn-more').hidden = !ctx.more;
  fill($('#results-count'), t(ctx.more ? 'review.count_more' : 'review.count', { n: ctx.items.length }));
}

async function open(recordingId) {
  ctx.selected = recordingId;
  for (const row of document.querySelectorAll('#results-body tr')) {
    row.classList.toggle('selected', row.dataset.recording === recordingId);
  }
  const detail = await api.get(`/review/recordings/${seg(recordingId)}`);
  if (ctx.selected !== recordingId) return;
  $('#pick').hidden = true;
  player.show(detail);
  await evaluations.show(ctx.user, detail);
}

/** After an evaluation: the row's count and mean change (a search: opening it again would
 * log another view). */
async function refreshRow() {
  const index = ctx.items.findIndex((r) => r.id === ctx.selected);
  if (index < 0) return;
  const row = ctx.items[index];
  const found = await api.get(`/review/recordings?call_id=${encodeURIComponent(row.call_id)}`, { quiet: true }).catch(() => null);
  const fresh = found && found.recordings.find((r) => r.id === row.id);
  if (fresh) {
    ctx.items[index] = fresh;
    renderResults();
  }
}

async function onSignedIn(user) {
  ctx.user = user;
  for (const el of document.querySelectorAll('.supervisor-only')) el.hidden = !supervises(user);
  fillOutcomes();
  await search();
  const wanted = new URLSearchParams(window.location.search).get('recording');
  if (wanted) await open(wanted).catch(() => {});
}

function onSignedOut() {
  player.reset();
  evaluations.clear();
  Object.assign(ctx, { user: null, items: [], query: '', more: false, selected: null });
  fill($('#results-body'));
  $('#player-panel').hidden = true;
  $('#pick').hidden = false;
}

$('#search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  busy($('#btn-search'), () => search()).catch(() => {});
});
$('#search-form').addEventListener('reset', () => setTimeout(() => search().catch(() => {}), 0));
$('#btn-more').addEventListener('click', (event) => busy(event.currentTarget, () => search({ append: true })).catch(() => {}));
document.addEventListener('langchange', () => {
  fillOutcomes();
  if (ctx.user) renderResults();
  player.rerender();
  evaluations.rerender();
});

let page = null;
$('#btn-logout').addEventListener('click', () => page && page.signOut());
page = await setupPage({
  refuse: (user) => (supervises(user) || user.agent_id ? null : 'login.need_agent'),
  onSignedIn,
  onSignedOut,
});
