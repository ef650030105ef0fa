// The supervisor wallboard: the group member state distribution (donut), one tile per queue
// (waiting, a live longest wait, today's service level, answered/abandoned, its members'
// states), and the agent table with force-state actions. GET /wallboard every 5 s and after
// events (coalesced); agent state events move a row at once, before the next fetch.

import { api, seg, session } from './api.js';
import { countStates, drawDonut, normalizeCounts, stackedBar, STATES } from './chart.js';
import { EventStream } from './events.js';
import { lang, t, tOr } from './i18n.js';
import { setupPage, showConnection } from './session.js';
import { formatDuration, formatTime, secondsSince, serverNow, toMs } from './time.js';
import { $, busy, coalesce, confirmAsk, everySecond, fill, h, toast } from './ui.js';
import { formatPhone } from './desktop/dialpad.js';

const POLL_MS = 5000;
const WAIT_WARN = 30;
const WAIT_ALERT = 60;
const FORCE = [
  { value: 'ready', state: 'ready' },
  { value: 'not_ready:break', state: 'not_ready', reason: 'break' },
  { value: 'not_ready:meeting', state: 'not_ready', reason: 'meeting' },
  { value: 'not_ready:training', state: 'not_ready', reason: 'training' },
  { value: 'away', state: 'away' },
  { value: 'logged_out', state: 'logged_out' },
];

const ctx = {
  user: null, board: null, at: null, calls: new Map(), group: '', stream: null, poll: null, stopTick: null, deferred: false,
  perf: new Map(), perfAt: 0,
};

const stateLabel = (state) => tOr(`state.${state}`, state);

async function load() {
  const [board, calls] = await Promise.all([
    api.get('/wallboard', { quiet: true }),
    api.get('/calls', { quiet: true }).catch(() => null),
  ]).catch(() => [null, null]);
  if (!board || !ctx.user) return;
  ctx.board = board;
  ctx.at = toMs(board.at) ?? serverNow();
  if (calls) ctx.calls = new Map((calls.calls || []).map((c) => [String(c.id ?? c.call_id), c]));
  if (Date.now() - ctx.perfAt > 60000) loadPerformance();
  render();
}

/** Today's per-agent answer rate and QA average (GET /performance), once a minute. */
async function loadPerformance() {
  ctx.perfAt = Date.now();
  const perf = await api.get('/performance', { quiet: true }).catch(() => null);
  if (!perf || !perf.agents) return;
  ctx.perf = new Map(perf.agents.map((a) => [String(a.key), a]));
  render();
}

const percent = (value) => (value === null || value === undefined ? '—' : `${Math.round(value * 100)}%`);

const refresh = coalesce(load, 800);

function members() {
  const agents = (ctx.board && ctx.board.agents) || [];
  return ctx.group ? agents.filter((a) => (a.queues || []).includes(ctx.group)) : agents;
}

function render() {
  if (!ctx.board) return;
  renderGroups();
  renderDistribution();
  renderTiles();
  renderAgents();
  fill($('#updated'), t('wb.updated', { time: formatTime(ctx.at) }));
}

function renderGroups() {
  const names = ['', ...(ctx.board.queues || []).map((q) => q.name)];
  if (ctx.group && !names.includes(ctx.group)) ctx.group = '';
  const picker = $('#group-picker');
  const key = `${lang()}|${ctx.group}|${names.join('|')}`;
  if (picker.dataset.key === key) return; // unchanged: keep the buttons (and keyboard focus)
  picker.dataset.key = key;
  fill(picker, names.map((name) => h('button', {
    type: 'button',
    role: 'radio',
    class: 'chip-button',
    'aria-checked': String(name === ctx.group),
    dataset: { group: name },
    onclick: () => selectGroup(name),
  }, name || t('wb.group.all'))));
}

function selectGroup(name) {
  ctx.group = name;
  render();
}

function renderDistribution() {
  const counts = ctx.group || !ctx.board.states ? countStates(members()) : normalizeCounts(ctx.board.states);
  drawDonut($('#donut'), counts, { label: ctx.group || t('wb.group.all'), stateLabel });
  fill($('#legend'), STATES.map((state) => h('li', { class: `legend-item${counts[state] ? '' : ' zero'}`, dataset: { state, count: String(counts[state]) } },
    h('span', { class: `swatch bg-${state}` }),
    h('span', { class: 'legend-label' }, stateLabel(state)),
    h('span', { class: 'legend-count tabular' }, String(counts[state])))));
}

function slClass(level) {
  if (level === null || level === undefined) return '';
  return level >= 0.8 ? 'good' : level >= 0.6 ? 'warn' : 'alert';
}

function waitClass(seconds) {
  return seconds >= WAIT_ALERT ? 'alert' : seconds >= WAIT_WARN ? 'warn' : '';
}

/** The queue's longest wait now: what the board said plus the time since it said it. */
function longestWait(queue) {
  if (!queue.waiting) return 0;
  return (queue.longest_wait || 0) + Math.max(0, (serverNow() - ctx.at) / 1000);
}

function renderTiles() {
  const queues = ctx.board.queues || [];
  const agents = ctx.board.agents || [];
  fill($('#tiles'), queues.length ? queues.map((q) => {
    const wait = longestWait(q);
    const level = q.service_level;
    const counts = countStates(agents.filter((a) => (a.queues || []).includes(q.name)));
    return h('button', {
      type: 'button',
      class: `tile${q.name === ctx.group ? ' selected' : ''}`,
      dataset: { queue: q.name },
      'aria-pressed': String(q.name === ctx.group),
      onclick: () => selectGroup(q.name === ctx.group ? '' : q.name),
    },
    h('div', { class: 'tile-head' }, h('span', { class: 'tile-name' }, q.name),
      h('span', { class: 'muted' }, t('wb.ready_agents', { ready: q.agents_ready ?? q.ready ?? 0, logged_in: q.agents_logged_in ?? q.logged_in ?? 0 }))),
    h('div', { class: 'tile-figures' },
      figure(t('wb.waiting'), String(q.waiting ?? 0), q.waiting ? waitClass(wait) : '', 'waiting'),
      figure(t('wb.longest'), formatDuration(wait), waitClass(wait), 'longest'),
      figure(t('wb.service_level'), level === null || level === undefined ? '—' : `${Math.round(level * 100)}%`, slClass(level), 'sl'),
      figure(`${t('wb.answered')} / ${t('wb.abandoned')}`, `${q.answered ?? '—'} / ${q.abandoned ?? '—'}`, '', 'counts')),
    stackedBar(counts, stateLabel),
    q.estimated_wait !== null && q.estimated_wait !== undefined
      ? h('div', { class: 'tile-foot muted' }, t('wb.ewt', { time: formatDuration(q.estimated_wait) }))
      : null);
  }) : h('p', { class: 'empty' }, t('wb.no_queues')));
}

function figure(label, value, tone, key) {
  return h('div', { class: `figure ${tone}`, dataset: { figure: key } },
    h('span', { class: 'figure-value tabular' }, value),
    h('span', { class: 'figure-label' }, label));
}

function renderAgents() {
  if (document.activeElement && document.activeElement.classList.contains('force')) {
    ctx.deferred = true; // a supervisor is choosing: do not pull the menu away
    return;
  }
  ctx.deferred = false;
  const needle = $('#agent-filter').value.trim().toLowerCase();
  const order = Object.fromEntries(STATES.map((s, i) => [s, i]));
  const rows = members()
    .filter((a) => !needle || `${a.name} ${a.id}`.toLowerCase().includes(needle))
    .sort((a, b) => (order[a.state] ?? 99) - (order[b.state] ?? 99) || (toMs(a.since) ?? 0) - (toMs(b.since) ?? 0));
  fill($('#agents-count'), t('wb.total', { n: rows.length }));
  fill($('#agents-body'), rows.length ? rows.map(agentRow) : h('tr', {}, h('td', { colspan: 9, class: 'empty' }, t('wb.no_agents'))));
}

function agentRow(agent) {
  const call = agent.call_id ? ctx.calls.get(String(agent.call_id)) : null;
  const reason = agent.reason && ['not_ready', 'away'].includes(agent.state) ? tOr(`reason.${agent.reason}`, agent.reason) : '';
  // Handled and AHT from one source: today's records, or (when the server could not read
  // them) the live counters since the server started, never one of each.
  const today = agent.handled_today !== null && agent.handled_today !== undefined;
  const perf = ctx.perf.get(String(agent.id));
  return h('tr', { dataset: { agent: String(agent.id), state: agent.state } },
    h('td', {}, h('span', { class: 'agent-name' }, agent.name || agent.id), h('span', { class: 'muted' }, ` #${agent.id}`)),
    h('td', {}, h('span', { class: `state-pill st-${agent.state}`, title: agent.by ? t('state.by', { who: agent.by }) : null },
      h('span', { class: 'dot' }), stateLabel(agent.state), reason ? h('span', { class: 'pill-reason' }, ` · ${reason}`) : null)),
    h('td', { class: 'num tabular', dataset: { since: String(toMs(agent.since) ?? '') } }, formatDuration(secondsSince(agent.since))),
    h('td', { class: 'tabular' }, agent.call_id ? (call ? `${formatPhone(call.caller)}${call.queue ? ` · ${call.queue}` : ''}` : String(agent.call_id)) : '—'),
    h('td', { class: 'num tabular' }, String(today ? agent.handled_today : agent.handled ?? 0)),
    h('td', { class: 'num tabular' }, formatDuration(today ? agent.aht : agent.average_handle_time)),
    h('td', { class: 'num tabular' }, percent(perf && perf.offer_answer_rate)),
    h('td', { class: 'num tabular' }, perf && perf.qa_avg !== null && perf.qa_avg !== undefined ? perf.qa_avg.toFixed(1) : '—'),
    h('td', {}, forceMenu(agent), agent.call_id ? monitorMenu(agent) : null));
}

/** Listen, whisper or barge in on the agent's call: the supervisor's own phone rings. */
function monitorMenu(agent) {
  return h('select', {
    class: 'force monitor',
    'aria-label': `${t('action.monitor')} ${agent.name || agent.id}`,
    onchange: (event) => monitor(agent, event.currentTarget),
  },
  h('option', { value: '' }, t('action.monitor')),
  ['listen', 'whisper', 'barge'].map((mode) => h('option', { value: mode }, t(`monitor.${mode}`))));
}

async function monitor(agent, select) {
  const mode = select.value;
  select.value = '';
  if (!mode || !agent.call_id) return;
  const body = { mode };
  if (!ctx.user.agent_id) { // a supervisor without a phone of their own names one, once
    const saved = localStorage.getItem('cti.monitorPhone') || '';
    const phone = (window.prompt(t('monitor.phone'), saved) || '').trim();
    if (!phone) return;
    localStorage.setItem('cti.monitorPhone', phone);
    body.extension = phone;
  }
  const ok = await busy(select, () => api.post(`/calls/${seg(String(agent.call_id))}/monitor`, body))
    .then(() => true, () => false);
  if (ok) toast(t('wb.monitoring', { agent: agent.name || agent.id, mode: t(`monitor.${mode}`) }), 'ok');
}

function forceMenu(agent) {
  return h('select', {
    class: 'force',
    disabled: agent.state === 'logged_out', // only the agent can start a session
    'aria-label': `${t('action.force')} ${agent.name || agent.id}`,
    onchange: (event) => force(agent, event.currentTarget),
  },
  h('option', { value: '' }, t('action.force')),
  FORCE.map((f) => h('option', { value: f.value, disabled: f.state === agent.state && !f.reason },
    f.reason ? `${stateLabel(f.state)} · ${t(`reason.${f.reason}`)}` : stateLabel(f.state))));
}

async function force(agent, select) {
  const choice = FORCE.find((f) => f.value === select.value);
  select.value = '';
  if (!choice) return;
  const name = agent.name || agent.id;
  if (choice.state === 'logged_out' && !(await confirmAsk(`${name}: ${t('action.logout')}?`))) return;
  const body = choice.reason ? { state: choice.state, reason: choice.reason } : { state: choice.state };
  const ok = await busy(select, () => api.post(`/agents/${seg(agent.id)}/state`, body)).then(() => true, () => false);
  if (ok) {
    toast(t('wb.forced', { agent: name, state: stateLabel(choice.state) }), 'ok');
    refresh();
  }
}

/** Live timers: time in state and the queues' longest waits. */
function tick() {
  if (!ctx.board) return;
  for (const cell of document.querySelectorAll('#agents-body td[data-since]')) {
    const since = Number(cell.dataset.since);
    if (since) cell.textContent = formatDuration(secondsSince(since));
  }
  for (const tile of document.querySelectorAll('#tiles .tile')) {
    const queue = (ctx.board.queues || []).find((q) => q.name === tile.dataset.queue);
    if (!queue) continue;
    const wait = longestWait(queue);
    const longest = tile.querySelector('[data-figure=longest]');
    longest.className = `figure ${waitClass(wait)}`;
    fill(longest.querySelector('.figure-value'), formatDuration(wait));
  }
}

function onEvent(name, data) {
  if (name.startsWith('agent_') && data.agent_id && data.state && ctx.board) {
    const agent = (ctx.board.agents || []).find((a) => String(a.id) === String(data.agent_id));
    if (agent) {
      Object.assign(agent, { state: data.state, reason: data.reason ?? '', by: data.by ?? '', since: data.at ?? agent.since });
      if ('call_id' in data) agent.call_id = data.call_id;
      render();
    }
  }
  refresh();
}

function onStatus(status) {
  showConnection(status);
  if (status === 'live') refresh();
}

async function onSignedIn(user) {
  ctx.user = user;
  ctx.stream = new EventStream({ token: () => session.token(), cursorKey: `cti.cursor.wb.${user.username}`, onEvent, onStatus, onGap: refresh });
  await load();
  ctx.stream.start();
  ctx.poll = setInterval(load, POLL_MS);
  ctx.stopTick = everySecond(tick);
}

function onSignedOut() {
  if (ctx.stream) ctx.stream.stop();
  clearInterval(ctx.poll);
  if (ctx.stopTick) ctx.stopTick();
  Object.assign(ctx, { user: null, board: null, stream: null, poll: null, stopTick: null, calls: new Map() });
}

$('#agent-filter').addEventListener('input', () => renderAgents());
$('#agents-body').addEventListener('focusout', () => setTimeout(() => ctx.deferred && renderAgents(), 0));
document.addEventListener('langchange', render);

let page = null;
$('#btn-logout').addEventListener('click', () => page && page.signOut());
page = await setupPage({
  refuse: (user) => (['supervisor', 'admin'].includes(user.role) ? null : 'login.need_supervisor'),
  onSignedIn,
  onSignedOut,
});
