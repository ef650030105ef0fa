// The call panel: the agent's current call (number, queue, a duration timer) and what can be
// done to it (hold, resume, transfer, hang up). The call shown is the agent's `call_id`, or
// else the agent's own call in GET /calls (a click-to-call has no ACD offer behind it).
// When it goes away the panel says so to the desktop, which opens the disposition form.

import { api, seg } from '../api.js';
import { t } from '../i18n.js';
import { formatDuration, secondsSince, serverNow, toMs } from '../time.js';
import { $, busy, confirmAsk, fill, h, openDialog, toast } from '../ui.js';
import { formatPhone } from './dialpad.js';

const ENDED = new Set(['cleared', 'ended', 'failed']);

/** One call from the API, whichever names it uses (contract and the older rows alike). */
export function normalizeCall(raw) {
  return {
    id: String(raw.id ?? raw.call_id),
    state: raw.state ?? raw.phase ?? '',
    caller: raw.caller ?? '',
    callee: raw.callee ?? raw.called ?? '',
    queue: raw.queue ?? null,
    agentId: raw.agent_id === null || raw.agent_id === undefined ? null : String(raw.agent_id),
    offeredTo: (raw.offered_to || []).map(String),
    customerId: raw.customer_id ?? null,
    startedAt: toMs(raw.started_at ?? raw.created_at),
    answeredAt: toMs(raw.answered_at),
    onHold: Boolean(raw.on_hold),
    screenPop: raw.screen_pop ?? null,
    script: raw.script ?? null,
    detailed: 'screen_pop' in raw || 'script' in raw,
  };
}

export class CallPanel {
  /**
   * @param {object} hooks
   * @param {() => string} hooks.agentId
   * @param {(call: object) => void} hooks.onCall  a new call (details loaded)
   * @param {(call: object) => void} hooks.onEnded  the call shown is gone
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.call = null;
    this.agentState = 'logged_out';
    this.wire();
  }

  wire() {
    $('#btn-hold').addEventListener('click', (e) => this.toggleHold(e.currentTarget));
    $('#btn-hangup').addEventListener('click', (e) => this.hangup(e.currentTarget));
    $('#btn-transfer').addEventListener('click', () => this.transfer());
    $('#transfer-cancel').addEventListener('click', () => $('#dlg-transfer').close(''));
    $('#transfer-form').addEventListener('submit', (e) => this.submitTransfer(e));
  }

  /** The number to show: the other party (for a click-to-call the agent is the caller). */
  otherParty(call) {
    const me = this.hooks.agentId();
    return call.caller && call.caller !== me ? call.caller : call.callee || call.caller;
  }

  /** Bring the panel in line with the agent row and the call list the server sent. */
  async sync(agent, calls) {
    this.agentState = agent ? agent.state : 'logged_out';
    const me = this.hooks.agentId();
    const mine = calls.map(normalizeCall)
      .filter((c) => !ENDED.has(c.state) && (c.agentId === me || c.offeredTo.includes(me)));
    // The agent keeps the call's id through wrap-up: a call no longer listed has ended.
    const held = agent && agent.call_id ? String(agent.call_id) : null;
    const wanted = held && mine.some((c) => c.id === held) ? held : (mine[0] ? mine[0].id : null);
    if (this.call && this.call.id !== wanted) {
      const ended = this.call;
      this.call = null;
      this.hooks.onEnded(ended);
    }
    if (wanted && !this.call) {
      const detail = await api.get(`/calls/${seg(wanted)}`, { quiet: true }).catch(() => null);
      if (!detail) {
        this.render();
        return;
      }
      this.call = normalizeCall(detail);
      this.call.seenTalking = false;
      this.hooks.onCall(this.call);
    } else if (wanted) {
      const row = mine.find((c) => c.id === wanted);
      if (row) Object.assign(this.call, { state: row.state, onHold: row.onHold, answeredAt: row.answeredAt ?? this.call.answeredAt });
      await this.completeDetail();
    }
    if (this.call && this.agentState === 'busy') {
      this.call.seenTalking = true;
      if (!this.call.answeredAt) this.call.answeredAt = serverNow(); // first seen talking
    }
    this.render();
  }

  /** The screen pop is loaded while the phone rings: a first look may come too early. Ask
   * again on the next few syncs until it (and the script) are there. */
  async completeDetail() {
    const call = this.call;
    if (call.screenPop || (call.detailTries = (call.detailTries || 0) + 1) > 5) return;
    const detail = await api.get(`/calls/${seg(call.id)}`, { quiet: true }).catch(() => null);
    if (!detail || this.call !== call || !detail.screen_pop) return;
    const fresh = normalizeCall(detail);
    Object.assign(call, { screenPop: fresh.screenPop, script: call.script ?? fresh.script, customerId: fresh.customerId });
    this.hooks.onCall(call);
  }

  /** A hold or resume event for the call shown: no need to wait for the next sync. */
  setHold(callId, onHold) {
    if (this.call && this.call.id === callId) {
      this.call.onHold = onHold;
      this.render();
    }
  }

  ringing() {
    return this.call && !this.call.answeredAt && this.agentState === 'reserved';
  }

  render() {
    const call = this.call;
    const panel = $('#call-panel');
    $('#call-empty').hidden = Boolean(call);
    $('#call-body').hidden = !call;
    const tag = $('#call-tag');
    if (!call) {
      panel.dataset.call = 'none';
      fill(tag);
      return;
    }
    const phase = call.onHold ? 'on_hold' : this.ringing() ? 'ringing' : 'talking';
    panel.dataset.call = phase;
    fill(tag, t(`call.${phase}`));
    tag.className = `tag tag-${phase}`;
    fill($('#call-number'), formatPhone(this.otherParty(call)) || '—');
    fill($('#call-queue'), call.queue || t('call.outbound'));
    fill($('#call-id'), call.id);
    const hold = $('#btn-hold');
    fill(hold, t(call.onHold ? 'action.unhold' : 'action.hold'));
    hold.setAttribute('aria-pressed', String(call.onHold));
    hold.disabled = phase === 'ringing';
    $('#btn-transfer').disabled = phase === 'ringing';
    this.tick();
  }

  /** The duration timer: talk time once answered, else the time it has been ringing. */
  tick() {
    if (!this.call) return;
    const from = this.call.answeredAt ?? this.call.startedAt;
    fill($('#call-timer'), formatDuration(secondsSince(from)));
  }

  async toggleHold(button) {
    if (!this.call) return;
    const action = this.call.onHold ? 'unhold' : 'hold';
    const id = this.call.id;
    await busy(button, () => api.post(`/calls/${seg(id)}/${action}`)).then(
      () => this.setHold(id, action === 'hold'),
      () => {},
    );
  }

  async hangup(button) {
    if (!this.call || !(await confirmAsk(t('confirm.hangup')))) return;
    await busy(button, () => api.post(`/calls/${seg(this.call.id)}/hangup`)).catch(() => {});
  }

  async transfer() {
    if (!this.call || this.ringing()) return;
    const form = $('#transfer-form');
    form.reset();
    $('#transfer-error').hidden = true;
    const queues = await api.get('/queues', { quiet: true }).catch(() => ({ queues: [] }));
    fill($('#transfer-targets'), (queues.queues || []).map((q) => h('option', { value: q.name })));
    await openDialog($('#dlg-transfer'));
  }

  async submitTransfer(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const call = this.call;
    if (!call) {
      $('#dlg-transfer').close('');
      return;
    }
    const body = { kind: form.elements.kind.value, target: form.elements.target.value.trim() };
    const error = $('#transfer-error');
    try {
      await busy(form.querySelector('[type=submit]'), () => api.post(`/calls/${seg(call.id)}/transfer`, body, { quiet: true }));
      $('#dlg-transfer').close('ok');
      toast(t('transfer.done', { target: body.target }));
    } catch (failure) {
      fill(error, failure.detail || String(failure));
      error.hidden = false;
    }
  }
}

/** Kept for the recent-calls list when a call ends. */
export function summary(call, number) {
  return { number, customerId: call.customerId, queue: call.queue, at: call.startedAt ?? serverNow(), callId: call.id };
}
