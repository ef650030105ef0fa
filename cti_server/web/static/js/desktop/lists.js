// The side lists: pending callbacks (GET /callbacks), voice messages (GET /voicemail, played
// through an authenticated fetch into a blob URL, since an <audio src> cannot send the
// token) and the calls this desk handled recently (kept in localStorage per agent, so a
// customer who called an hour ago is one click away).

import { api, seg } from '../api.js';
import { t } from '../i18n.js';
import { formatDateTime } from '../time.js';
import { $, $$, busy, fill, h, toast } from '../ui.js';
import { numberButton } from './dialpad.js';

const RECENT_MAX = 30;

export class Lists {
  constructor() {
    this.agentId = null;
    this.callbacks = [];
    this.messages = [];
    this.audioUrl = null;
    this.wire();
  }

  wire() {
    for (const tab of $$('.tabs [role=tab]')) {
      tab.addEventListener('click', () => this.select(tab.id));
      tab.addEventListener('keydown', (event) => this.arrowKeys(event));
    }
    $('#lists-refresh').addEventListener('click', (e) => busy(e.currentTarget, () => this.refresh()));
  }

  select(tabId) {
    for (const tab of $$('.tabs [role=tab]')) {
      const on = tab.id === tabId;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      $(`#${tab.getAttribute('aria-controls')}`).hidden = !on;
    }
  }

  arrowKeys(event) {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
    const tabs = $$('.tabs [role=tab]');
    const i = tabs.indexOf(event.currentTarget);
    const next = tabs[(i + (event.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    this.select(next.id);
    next.focus();
  }

  start(agentId) {
    this.agentId = agentId;
    this.select('tab-callbacks');
    this.renderRecent();
    return this.refresh();
  }

  stop() {
    this.agentId = null;
    this.callbacks = [];
    this.messages = [];
    this.releaseAudio();
  }

  refresh() {
    return Promise.all([this.loadCallbacks(), this.loadVoicemail()]);
  }

  async loadCallbacks() {
    const data = await api.get('/callbacks?status=pending', { quiet: true }).catch(() => null);
    if (data) this.callbacks = data.callbacks || [];
    this.renderCallbacks();
  }

  async loadVoicemail() {
    const data = await api.get('/voicemail', { quiet: true }).catch(() => null);
    if (data) this.messages = data.messages || [];
    this.renderVoicemail();
  }

  render() {
    this.renderCallbacks();
    this.renderVoicemail();
    this.renderRecent();
  }

  renderCallbacks() {
    const items = [...this.callbacks].sort((a, b) => String(a.due_at).localeCompare(String(b.due_at)));
    fill($('#count-callbacks'), items.length ? String(items.length) : '');
    fill($('#list-callbacks'), items.length
      ? h('ul', { class: 'rows' }, items.map((cb) => h('li', { class: 'row' },
        numberButton(cb.number, cb.customer_id),
        h('span', { class: 'muted' }, cb.queue || ''),
        h('span', { class: 'tabular', title: t('callbacks.due') }, formatDateTime(cb.due_at)),
        cb.attempts ? h('span', { class: 'badge' }, t('callbacks.attempts', { n: cb.attempts })) : null)))
      : h('p', { class: 'empty' }, t('callbacks.none')));
  }

  renderVoicemail() {
    const items = [...this.messages].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    const open = items.filter((m) => !m.done).length;
    fill($('#count-voicemail'), open ? String(open) : '');
    fill($('#vm-rows'), items.length
      ? items.map((m) => h('li', { class: `row${m.done ? ' done' : ''}`, dataset: { id: String(m.id) } },
        m.caller ? numberButton(m.caller, m.customer_id ?? null) : h('span', { class: 'muted' }, '—'),
        h('span', { class: 'muted' }, m.queue || ''),
        h('span', { class: 'tabular' }, formatDateTime(m.created_at)),
        h('span', { class: 'tabular muted' }, t('voicemail.duration', { seconds: Math.round(m.duration || 0) })),
        h('span', { class: 'row-actions' },
          h('button', { type: 'button', class: 'btn btn-small', onclick: (e) => this.play(m, e.currentTarget) }, `▶ ${t('action.play')}`),
          m.done
            ? h('span', { class: 'badge badge-ok' }, t('voicemail.done'))
            : h('button', { type: 'button', class: 'btn btn-small', onclick: (e) => this.markDone(m, e.currentTarget) }, t('action.mark_done')))))
      : h('li', { class: 'empty' }, t('voicemail.none')));
  }

  async play(message, button) {
    const audio = $('#vm-audio');
    try {
      const blob = await busy(button, () => api.blob(`/voicemail/${seg(message.id)}/audio`));
      this.releaseAudio();
      this.audioUrl = URL.createObjectURL(blob);
      audio.src = this.audioUrl;
      audio.hidden = false;
      await audio.play();
    } catch (error) {
      if (error && error.name === 'NotAllowedError') return; // autoplay refused: the controls are there
      if (!(error && error.status)) toast(t('error.audio'), 'error');
    }
  }

  releaseAudio() {
    const audio = $('#vm-audio');
    audio.pause();
    audio.removeAttribute('src');
    audio.hidden = true;
    if (this.audioUrl) URL.revokeObjectURL(this.audioUrl);
    this.audioUrl = null;
  }

  async markDone(message, button) {
    const done = await busy(button, () => api.post(`/voicemail/${seg(message.id)}/done`)).then(() => true, () => false);
    if (!done) return;
    message.done = true;
    toast(t('voicemail.marked'), 'ok');
    this.renderVoicemail();
  }

  recentKey() {
    return `cti.recent.${this.agentId}`;
  }

  recent() {
    try {
      const items = JSON.parse(localStorage.getItem(this.recentKey()) || '[]');
      return Array.isArray(items) ? items : [];
    } catch {
      return [];
    }
  }

  /** Remember a finished call (newest first, one entry per call). */
  remember(entry) {
    if (!this.agentId || !entry.number) return;
    const items = [entry, ...this.recent().filter((e) => e.callId !== entry.callId)].slice(0, RECENT_MAX);
    localStorage.setItem(this.recentKey(), JSON.stringify(items));
    this.renderRecent();
  }

  renderRecent() {
    const items = this.agentId ? this.recent() : [];
    fill($('#list-recent'), items.length
      ? h('ul', { class: 'rows' }, items.map((e) => h('li', { class: 'row' },
        numberButton(e.number, e.customerId),
        h('span', { class: 'muted' }, e.name || e.queue || ''),
        h('span', { class: 'tabular' }, formatDateTime(e.at)))))
      : h('p', { class: 'empty' }, t('recent.none')));
  }
}
