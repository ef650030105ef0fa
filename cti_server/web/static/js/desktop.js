// The agent desktop: sign-in, the state bar (badge, timer, Ready / Not ready / Away /
// Wrap-up done), and the live loop that keeps the panels true. State comes from REST
// (GET /agents/{id}, GET /calls); the WebSocket says when to look again (and moves the badge
// at once); while the socket is down the page polls every 5 s instead.

import { api, seg, session } from './api.js';
import { EventStream } from './events.js';
import { t, tOr } from './i18n.js';
import { setupPage, showConnection } from './session.js';
import { formatDuration, secondsSince } from './time.js';
import { $, busy, coalesce, confirmAsk, everySecond, fill, h, openDialog } from './ui.js';
import { CallPanel, summary } from './desktop/call_panel.js';
import { setupDialpad } from './desktop/dialpad.js';
import { DispositionForm } from './desktop/disposition.js';
import { Lists } from './desktop/lists.js';
import { ScreenPop } from './desktop/screen_pop.js';
import { ScriptPanel } from './desktop/script_panel.js';

const POLL_MS = 5000;
const REASONS = ['break', 'lunch', 'training', 'meeting', 'after_call'];
const SHOWS_REASON = new Set(['not_ready', 'away']);

const ctx = { user: null, agentId: null, agent: null, stream: null, poll: null, stopTick: null };

const screenPop = new ScreenPop();
const lists = new Lists();
const script = new ScriptPanel({ onFinished: (code) => disposition.suggest(code) });
const disposition = new DispositionForm(script);
const callPanel = new CallPanel({
  agentId: () => ctx.agentId,
  onCall(call) {
    const number = callPanel.otherParty(call);
    screenPop.show(call.screenPop, number);
    script.load(call.id, call.script, scriptContext(call));
  },
  onEnded(call) {
    const number = callPanel.otherParty(call);
    const pop = screenPop.pop;
    lists.remember({ ...summary(call, number), name: pop && pop.name });
    if (call.answeredAt || call.seenTalking) disposition.open(call, number, script.suggestion());
  },
});

/** What a script's {customer.*} and {agent.*} placeholders are filled from. */
function scriptContext(call) {
  const pop = call.screenPop || {};
  const customer = { ...pop, ...(pop.customer || {}) };
  return { customer, agent: { id: ctx.agentId, name: (ctx.agent && ctx.agent.name) || ctx.user.display_name } };
}

// --- the state bar --------------------------------------------------------------------------

function applyAgent(agent) {
  if (!agent || String(agent.id ?? ctx.agentId) !== ctx.agentId) return;
  ctx.agent = { ...(ctx.agent || {}), ...agent };
  renderAgent();
}

function renderAgent() {
  const agent = ctx.agent;
  const state = agent ? agent.state : 'logged_out';
  const badge = $('#state-badge');
  badge.dataset.state = state;
  fill($('.state-label', badge), tOr(`state.${state}`, state));
  const reason = agent && SHOWS_REASON.has(state) && agent.reason ? tOr(`reason.${agent.reason}`, agent.reason) : '';
  fill($('.state-reason', badge), reason);
  badge.title = agent && agent.by ? t('state.by', { who: agent.by }) : '';
  const pending = $('#pending-state');
  pending.hidden = !(agent && agent.pending);
  fill(pending, agent && agent.pending ? t('state.pending', { state: tOr(`state.${agent.pending}`, agent.pending) }) : '');
  const press = (id, on) => $(id).setAttribute('aria-pressed', String(on));
  press('#btn-ready', state === 'ready');
  press('#btn-not-ready', state === 'not_ready');
  press('#btn-away', state === 'away');
  $('#btn-ready').disabled = state === 'ready';
  $('#btn-away').disabled = state === 'away';
  $('#btn-wrap-done').disabled = state !== 'wrap_up';
  tick();
}

function tick() {
  const agent = ctx.agent;
  fill($('#state-badge .state-timer'), agent && agent.since ? formatDuration(secondsSince(agent.since)) : '');
  callPanel.tick();
}

async function changeState(target, reason = '', { quiet = false } = {}) {
  const path = `/agents/${seg(ctx.agentId)}/state`;
  if ((!ctx.agent || ctx.agent.state === 'logged_out') && target !== 'logged_out') {
    applyAgent(await api.post(path, { state: 'logged_in' }, { quiet }));
  }
  const row = await api.post(path, reason ? { state: target, reason } : { state: target }, { quiet });
  if (row && row.id !== undefined) applyAgent(row);
  else scheduleSync();
}

const act = (button, target) => busy($(button), () => changeState(target)).catch(() => {});

async function pickReason() {
  const dialog = $('#dlg-not-ready');
  const error = $('#reason-error');
  error.hidden = true;
  fill($('#reason-list'), REASONS.map((reason, i) => h('button', {
    type: 'button',
    class: 'btn reason',
    dataset: { reason },
    onclick: async (event) => {
      try {
        await busy(event.currentTarget, () => changeState('not_ready', reason, { quiet: true }));
        dialog.close('ok');
      } catch (failure) {
        fill(error, failure.detail || String(failure));
        error.hidden = false;
      }
    },
  }, h('kbd', {}, String(i + 1)), t(`reason.${reason}`))));
  await openDialog(dialog);
}

$('#dlg-not-ready').addEventListener('keydown', (event) => {
  const i = Number(event.key) - 1;
  const buttons = document.querySelectorAll('#reason-list button');
  if (i >= 0 && i < buttons.length) {
    event.preventDefault();
    buttons[i].click();
  }
});

$('#btn-ready').addEventListener('click', () => act('#btn-ready', 'ready'));
$('#btn-not-ready').addEventListener('click', pickReason);
$('#btn-away').addEventListener('click', () => act('#btn-away', 'away'));
$('#btn-wrap-done').addEventListener('click', () => act('#btn-wrap-done', 'wrap_up_done'));
$('#btn-help').addEventListener('click', () => openDialog($('#dlg-help')));

// --- staying in sync ------------------------------------------------------------------------

let syncing = null;
let syncAgain = false;

/** Reload the agent and its calls; calls that overlap run once more after, never in parallel. */
async function resync() {
  if (syncing) {
    syncAgain = true;
    return syncing;
  }
  syncing = (async () => {
    do {
      syncAgain = false;
      const id = ctx.agentId;
      if (!id) break;
      try {
        const [agent, calls] = await Promise.all([
          api.get(`/agents/${seg(id)}`, { quiet: true }),
          api.get('/calls', { quiet: true }),
        ]);
        if (ctx.agentId !== id) break;
        applyAgent(agent);
        await callPanel.sync(ctx.agent, (calls && calls.calls) || []);
      } catch {
        // offline or refused: the connection indicator and the sign-in flow say so
      }
    } while (syncAgain);
  })();
  try {
    await syncing;
  } finally {
    syncing = null;
  }
}

const scheduleSync = coalesce(resync, 200);
const refreshCallbacks = coalesce(() => lists.loadCallbacks(), 1000);
const refreshVoicemail = coalesce(() => lists.loadVoicemail(), 2000);

function onEvent(name, data) {
  const mine = String(data.agent_id ?? '') === ctx.agentId;
  const current = callPanel.call;
  const ourCall = Boolean(current && data.call_id && String(data.call_id) === current.id);
  if (mine && name.startsWith('agent_') && data.state) {
    applyAgent({ state: data.state, reason: data.reason ?? '', by: data.by ?? '', since: data.at ?? null });
  }
  if (ourCall && name === 'call_held') callPanel.setHold(current.id, true);
  if (ourCall && name === 'call_retrieved') callPanel.setHold(current.id, false);
  if (name.startsWith('callback')) refreshCallbacks();
  if (name.startsWith('voice_message') || (mine && name === 'call_cleared')) refreshVoicemail();
  if (mine || ourCall) scheduleSync();
}

function startPolling() {
  if (ctx.poll === null) ctx.poll = setInterval(scheduleSync, POLL_MS);
}

function stopPolling() {
  clearInterval(ctx.poll);
  ctx.poll = null;
}

function onStatus(status) {
  showConnection(status);
  if (status === 'live') {
    stopPolling();
    scheduleSync(); // anything missed between the drop and the replay
  } else if (status === 'down') {
    startPolling();
  }
}

async function onSignedIn(user) {
  ctx.user = user;
  ctx.agentId = String(user.agent_id);
  ctx.agent = null;
  fill($('#agent-id'), `#${ctx.agentId}`);
  lists.start(ctx.agentId);
  ctx.stream = new EventStream({
    token: () => session.token(),
    cursorKey: `cti.cursor.${user.username}`,
    onEvent,
    onStatus,
    onGap: scheduleSync,
  });
  await resync();
  ctx.stream.start();
  ctx.stopTick = everySecond(tick);
}

function onSignedOut() {
  if (ctx.stream) ctx.stream.stop();
  stopPolling();
  if (ctx.stopTick) ctx.stopTick();
  Object.assign(ctx, { user: null, agentId: null, agent: null, stream: null, stopTick: null });
  lists.stop();
  screenPop.clear();
  script.clear();
  disposition.close();
  callPanel.call = null;
  callPanel.render();
  renderAgent();
}

// --- keyboard -------------------------------------------------------------------------------

const typing = (el) => el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));

const SHORTCUTS = {
  KeyR: () => act('#btn-ready', 'ready'),
  KeyN: pickReason,
  KeyA: () => act('#btn-away', 'away'),
  KeyW: () => !$('#btn-wrap-done').disabled && act('#btn-wrap-done', 'wrap_up_done'),
  KeyH: () => !$('#btn-hold').disabled && $('#btn-hold').click(),
  KeyX: () => callPanel.call && $('#btn-hangup').click(),
  KeyT: () => !$('#btn-transfer').disabled && callPanel.transfer(),
  KeyD: () => $('#dial-number').focus(),
  Slash: () => openDialog($('#dlg-help')),
};

document.addEventListener('keydown', (event) => {
  if (!ctx.agentId || document.querySelector('dialog[open]')) return;
  if (event.altKey && !event.ctrlKey && !event.metaKey && SHORTCUTS[event.code]) {
    event.preventDefault();
    SHORTCUTS[event.code]();
    return;
  }
  if (!event.altKey && !event.ctrlKey && !event.metaKey && !typing(event.target) && script.handleKey(event)) {
    event.preventDefault();
  }
});

document.addEventListener('langchange', () => {
  renderAgent();
  callPanel.render();
  screenPop.render();
  script.render();
  lists.render();
  if (disposition.isOpen()) disposition.relabel();
});

// --- start ----------------------------------------------------------------------------------

let page = null;
$('#btn-logout').addEventListener('click', async () => {
  const state = ctx.agent ? ctx.agent.state : 'logged_out';
  if (['busy', 'reserved'].includes(state) && !(await confirmAsk(t('confirm.logout_busy')))) return;
  if (state !== 'logged_out') await changeState('logged_out', '', { quiet: true }).catch(() => {});
  if (page) await page.signOut();
});

setupDialpad();
page = await setupPage({
  refuse: (user) => (user.agent_id ? null : 'login.need_agent'),
  onSignedIn,
  onSignedOut,
});
