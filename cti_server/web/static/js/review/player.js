// The review page's player: one recording's audio, its call timeline and call summary.
//
// The WAV is fetched with the bearer token (an <audio src> cannot send one) only when the
// user asks to listen, so opening a recording is a "view" and only listening is a "play" in
// the server's access log; the blob then lives in a blob: URL that the page revokes when
// another recording opens. Clicking a timeline entry seeks there (entries before the
// recording started seek to its start); the entry being heard is highlighted.

import { api, seg } from '../api.js';
import { t, tOr } from '../i18n.js';
import { formatDuration, formatTime } from '../time.js';
import { $, busy, fill, h, toast } from '../ui.js';

/** Seconds into the recording as '1:05', or '-0:40' for what came a second or more before it. */
export function formatOffset(offset) {
  return offset <= -1 ? `-${formatDuration(-offset)}` : formatDuration(Math.max(0, offset));
}

function markLabel(label) {
  const agent = /^agent:(.+)$/.exec(label || '');
  if (agent) return t('review.ev.answered', { agent: agent[1] });
  return tOr(`review.mark.${label}`, label || '');
}

/** One timeline entry in the page's language. */
export function describe(event) {
  const vars = {
    agent: event.agent_id ?? '',
    queue: event.queue ?? '',
    flow: event.detail,
    target: event.detail,
    cause: event.detail || '—',
    outcome: event.kind === 'offer_ended' ? tOr(`review.offer.${event.detail}`, event.detail) : event.detail || '—',
    label: markLabel(event.detail),
  };
  return tOr(`review.ev.${event.kind}`, event.kind).replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export class Player {
  constructor() {
    this.audio = $('#audio');
    this.detail = null;
    this.url = null;
    this.loading = null;
    $('#btn-listen').addEventListener('click', (event) => busy(event.currentTarget, () => this.listen()).catch(() => {}));
    $('#btn-download').addEventListener('click', (event) => busy(event.currentTarget, () => this.download()).catch(() => {}));
    this.audio.addEventListener('timeupdate', () => this.highlight());
    this.audio.addEventListener('seeked', () => this.highlight());
  }

  get recordingId() {
    return this.detail ? this.detail.recording.id : null;
  }

  show(detail) {
    this.reset();
    this.detail = detail;
    this.render();
    $('#btn-listen').hidden = !detail.audio;
    $('#player-panel').hidden = false;
  }

  /** Everything but the audio (a language change keeps what is playing). */
  render() {
    const detail = this.detail;
    const rec = detail.recording;
    fill($('#rec-id'), rec.id);
    fill($('#rec-head'),
      `${formatTime(rec.started_at, 'date')} ${formatTime(rec.started_at)} · `,
      `${t('review.col.agent')} ${rec.agent_id ?? '—'} · ${rec.queue ?? '—'} · ${formatDuration(rec.duration_s)}`);
    $('#btn-download').hidden = !(detail.can_download && detail.audio);
    this.audio.hidden = !detail.audio || !this.url;
    fill($('#audio-note'), detail.audio ? t('review.stereo') : t('review.no_audio', { status: rec.status }));
    this.renderTimeline();
    this.renderSummary();
    this.renderDispositions();
  }

  /** Forget the audio (another recording, sign-out). */
  reset() {
    this.audio.pause();
    this.audio.removeAttribute('src');
    this.audio.load();
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.loading = null;
    this.detail = null;
  }

  rerender() {
    if (this.detail) this.render();
  }

  async load() {
    if (this.url) return;
    if (!this.loading) {
      const id = this.recordingId;
      this.loading = api.blob(`/review/recordings/${seg(id)}/audio`).then((blob) => {
        if (this.recordingId !== id) return; // another recording was opened meanwhile
        this.url = URL.createObjectURL(blob);
        this.audio.src = this.url;
        this.audio.hidden = false;
      }).finally(() => {
        this.loading = null;
      });
    }
    await this.loading;
  }

  /** Fetch the audio if need be, seek to `offset` (seconds) and play. */
  async listen(offset = null) {
    if (!this.detail || !this.detail.audio) return;
    await this.load();
    if (!this.url) return;
    if (offset !== null) await this.seek(Math.max(0, offset));
    $('#btn-listen').hidden = true;
    try {
      await this.audio.play();
    } catch (error) {
      if (error && error.name !== 'AbortError') toast(String(error.message || error), 'error');
    }
  }

  seek(seconds) {
    return new Promise((resolve) => {
      const go = () => {
        this.audio.currentTime = seconds;
        resolve();
      };
      if (this.audio.readyState >= 1) go();
      else this.audio.addEventListener('loadedmetadata', go, { once: true });
    });
  }

  async download() {
    const id = this.recordingId;
    const blob = await api.blob(`/review/recordings/${seg(id)}/audio?download=1`);
    const url = URL.createObjectURL(blob);
    const link = h('a', { href: url, download: `${id}.wav`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  renderTimeline() {
    const list = $('#timeline');
    const events = this.detail.timeline || [];
    if (!events.length) {
      fill(list, h('li', { class: 'empty' }, t('review.no_timeline')));
      return;
    }
    fill(list, events.map((event, index) => {
      const before = event.offset < 0;
      const item = h('li', {
        class: `tl-item tl-${event.kind}${before ? ' before' : ''}`,
        dataset: { offset: String(event.offset), kind: event.kind, index: String(index) },
      },
      h('button', {
        type: 'button',
        class: 'tl-jump',
        title: before ? t('review.before_recording') : formatOffset(event.offset),
        onclick: () => this.listen(event.offset).catch(() => {}),
        disabled: !this.detail.audio,
      },
      h('span', { class: 'tl-offset tabular' }, formatOffset(event.offset)),
      h('span', { class: 'tl-time muted tabular' }, formatTime(event.at))),
      h('span', { class: 'tl-text' }, describe(event),
        event.path && event.path.length ? h('span', { class: 'tl-path muted' }, t('review.ev.path', { path: event.path.join(' › ') })) : null));
      return item;
    }));
    this.highlight();
  }

  highlight() {
    const now = this.audio.currentTime || 0;
    const items = [...document.querySelectorAll('#timeline .tl-item')];
    let current = null;
    for (const item of items) {
      if (Number(item.dataset.offset) <= now + 0.05) current = item;
    }
    for (const item of items) item.classList.toggle('current', item === current && this.url !== null);
  }

  renderSummary() {
    const call = this.detail.call;
    const box = $('#call-summary');
    if (!call) {
      fill(box, h('dd', { class: 'muted' }, t('review.no_timeline')));
      return;
    }
    const rows = [
      ['review.call.caller', call.caller || '—'],
      ['review.call.called', call.called || '—'],
      ['review.col.outcome', call.outcome ? tOr(`review.outcome.${call.outcome}`, call.outcome) : '—'],
      ['review.call.customer', call.customer_id || '—'],
      ['review.call.queues', (call.queues || []).join(', ') || '—'],
      ['review.call.wait', formatDuration(call.wait_seconds)],
      ['review.call.talk', formatDuration(call.talk_seconds)],
      ['review.call.holds', t('review.call.holds_value', { n: call.holds, time: formatDuration(call.hold_seconds) })],
      ['review.call.wrap_up', formatDuration(call.wrap_up_seconds)],
    ];
    if (call.overflow) rows.push(['review.call.overflow', call.overflow]);
    if (call.auth) rows.push(['review.call.auth', `${call.auth.method} · ${call.auth.outcome}`]);
    fill(box, rows.flatMap(([key, value]) => [h('dt', {}, t(key)), h('dd', {}, value)]));
  }

  renderDispositions() {
    const list = $('#dispositions');
    const rows = this.detail.dispositions || [];
    if (!rows.length) {
      fill(list, h('li', { class: 'empty' }, t('review.no_dispositions')));
      return;
    }
    fill(list, rows.map((d) => h('li', { class: 'dispo' },
      h('span', { class: 'chip' }, d.disposition),
      h('span', { class: 'muted' }, `${d.agent_id} · ${formatTime(d.updated_at, 'datetime')}`),
      d.notes ? h('span', { class: 'dispo-notes' }, d.notes) : null)));
  }
}
