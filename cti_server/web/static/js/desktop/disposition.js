// The disposition form after a call: a result code, notes and the script answers, posted to
// POST /calls/{id}/disposition (which also files the contact in the customer's history).
// It belongs to the call that ended, not to whatever call comes next; the server checks the
// code and the answers and its message is shown as it is.

import { api, seg } from '../api.js';
import { t, tOr } from '../i18n.js';
import { formatTime } from '../time.js';
import { $, busy, fill, h, toast } from '../ui.js';
import { formatPhone } from './dialpad.js';

export const CODES = [
  'resolved', 'follow_up', 'escalated', 'callback_rescheduled', 'sale', 'complaint', 'inquiry',
  'transferred', 'wrong_number', 'identity_not_verified', 'other',
];

export class DispositionForm {
  /** @param {{answersFor: (callId: string) => object}} source  the script answers, read at save time */
  constructor(source) {
    this.source = source;
    this.call = null;
    $('#dispo-form').addEventListener('submit', (event) => this.submit(event));
  }

  open(call, number, suggested = null) {
    this.call = call;
    const form = $('#dispo-form');
    form.reset();
    this.fillCodes(suggested);
    fill($('#dispo-call'), t('dispo.for_call', { number: formatPhone(number), time: formatTime(call.startedAt, 'short') }));
    this.showAnswers();
    $('#disposition').hidden = false;
    $('#dispo-code').focus();
  }

  /** The script reached an end step: its suggestion becomes the chosen code (still editable). */
  suggest(code) {
    if (!this.call || $('#disposition').hidden) return;
    const select = $('#dispo-code');
    if (!select.value) {
      this.fillCodes(code);
    }
    this.showAnswers();
  }

  fillCodes(selected) {
    const codes = selected && !CODES.includes(selected) ? [...CODES, selected] : CODES;
    fill($('#dispo-code'),
      h('option', { value: '' }, t('dispo.choose')),
      codes.map((code) => h('option', { value: code, selected: code === selected }, tOr(`dispo.code.${code}`, code))));
  }

  showAnswers() {
    const answers = this.call ? this.source.answersFor(this.call.id) : {};
    const entries = Object.entries(answers);
    fill($('#dispo-answers'), entries.length
      ? [h('h3', {}, t('script.answers')), h('ul', { class: 'chips' }, entries.map(([step, answer]) => h('li', { class: 'chip', title: step }, answer)))]
      : []);
  }

  /** New language: the code labels again, the choice kept. */
  relabel() {
    const select = $('#dispo-code');
    const value = select.value;
    this.fillCodes(value || null);
    select.value = value;
    this.showAnswers();
  }

  isOpen() {
    return Boolean(this.call) && !$('#disposition').hidden;
  }

  close() {
    this.call = null;
    $('#disposition').hidden = true;
  }

  async submit(event) {
    event.preventDefault();
    if (!this.call) return;
    const form = event.currentTarget;
    const body = {
      disposition: form.elements.disposition.value,
      notes: form.elements.notes.value.trim(),
      script_answers: this.source.answersFor(this.call.id),
    };
    try {
      await busy(form.querySelector('[type=submit]'), () => api.post(`/calls/${seg(this.call.id)}/disposition`, body));
      toast(t('dispo.saved'), 'ok');
      this.close();
    } catch {
      // the toast shows the server's reason; the form stays open to correct it
    }
  }
}
