// The review page's evaluation panel: a recording's evaluations (with the calibration spread
// for supervisors when several supervisors scored it), the scoring sheet for a supervisor
// (drawn from GET /qa/forms/{name}: one radio group per question, n/a where the form allows
// it, a live preview of the score), and for the evaluated agent a reply to each evaluation.

import { api, seg } from '../api.js';
import { lang, t } from '../i18n.js';
import { formatTime } from '../time.js';
import { $, busy, fill, h, toast } from '../ui.js';
import { NA, previewScore } from './scoring.js';

const text = (value) => (value ? value[lang()] || value.ko || value.en || '' : '');
const points = (score) => (score === null || score === undefined ? '—' : Number(score).toFixed(1));

export class EvaluationPanel {
  constructor({ onSaved }) {
    this.onSaved = onSaved;
    this.user = null;
    this.detail = null;
    this.found = null; // GET /recordings/{id}/evaluations
    this.summaries = null; // GET /qa/forms
    this.forms = new Map();
    this.form = null;
    this.answers = {};
    this.result = null;
    const sheet = $('#eval-form');
    sheet.addEventListener('change', (event) => this.changed(event));
    sheet.addEventListener('submit', (event) => {
      event.preventDefault();
      busy($('#btn-evaluate'), () => this.submit());
    });
  }

  clear() {
    Object.assign(this, { detail: null, found: null, form: null, answers: {}, result: null });
    $('#eval-panel').hidden = true;
  }

  async show(user, detail) {
    this.user = user;
    this.detail = detail;
    this.result = null;
    this.form = null;
    this.answers = {};
    $('#eval-result').hidden = true;
    $('#eval-form').hidden = true;
    if (detail.recording.kind === 'voice_message') {
      $('#eval-panel').hidden = true;
      return;
    }
    $('#eval-panel').hidden = false;
    await this.reload();
    if (detail.can_evaluate) await this.openSheet();
  }

  async reload() {
    const id = this.detail.recording.id;
    const found = await api.get(`/recordings/${seg(id)}/evaluations`);
    if (!this.detail || this.detail.recording.id !== id) return;
    this.found = found;
    this.renderList();
    this.renderCalibration();
  }

  mine() {
    return ((this.found && this.found.evaluations) || []).find((e) => e.evaluator === this.user.username) || null;
  }

  async openSheet() {
    if (!this.summaries) this.summaries = (await api.get('/qa/forms')).forms || [];
    if (!this.summaries.length) return;
    const mine = this.mine();
    const name = mine && this.summaries.some((f) => f.name === mine.form) ? mine.form : this.summaries[0].name;
    await this.pickForm(name);
    if (mine && mine.form === name) this.answers = { ...mine.answers };
    const select = $('#eval-form-name');
    fill(select, this.summaries.map((f) => h('option', { value: f.name }, text(f.title))));
    select.value = name;
    select.onchange = () => this.pickForm(select.value).then(() => this.renderSheet());
    $('#eval-form').elements.comment.value = (mine && mine.comment) || '';
    this.renderSheet();
    this.renderCalibration(); // now with the questions' words
    $('#eval-form').hidden = false;
  }

  async pickForm(name) {
    if (!this.forms.has(name)) this.forms.set(name, await api.get(`/qa/forms/${seg(name)}`));
    this.form = this.forms.get(name);
    this.answers = {};
  }

  renderSheet() {
    const form = this.form;
    if (!form) return;
    fill($('#eval-form-description'), text(form.description));
    fill($('#eval-questions'), form.sections.map((section) => h('fieldset', { class: 'eval-section' },
      h('legend', {}, text(section.title), h('span', { class: 'muted' }, ` · ${t('review.eval.weight', { w: section.weight })}`)),
      section.questions.map((question) => this.questionRow(question)))));
    this.renderPreview();
  }

  questionRow(question) {
    const options = question.type === 'scale'
      ? Array.from({ length: question.max + 1 }, (_, i) => [String(i), String(i)])
      : [['yes', t('review.eval.yes')], ['no', t('review.eval.no')]];
    if (question.na) options.push([NA, t('review.eval.na')]);
    const chosen = this.answers[question.id];
    return h('div', { class: 'question', dataset: { question: question.id } },
      h('p', { class: 'q-text' },
        question.critical ? h('span', { class: 'tag tag-warn' }, t('review.eval.critical')) : null,
        ` ${text(question.text)}`),
      question.help ? h('p', { class: 'muted small' }, text(question.help)) : null,
      h('div', { class: `q-options q-${question.type}`, role: 'radiogroup' }, options.map(([value, label]) => h('label', { class: 'q-option' },
        h('input', {
          type: 'radio',
          name: `q:${question.id}`,
          value,
          checked: chosen !== undefined && String(chosen) === value,
          dataset: { kind: question.type },
        }),
        h('span', {}, label)))));
  }

  changed(event) {
    const input = event.target;
    if (!input.name || !input.name.startsWith('q:')) return;
    const id = input.name.slice(2);
    this.answers[id] = input.dataset.kind === 'scale' && input.value !== NA ? Number(input.value) : input.value;
    this.renderPreview();
  }

  renderPreview() {
    const preview = previewScore(this.form, this.answers);
    const parts = [];
    if (preview.total !== null) parts.push(h('strong', {}, t('review.eval.preview', { score: points(preview.total) })));
    if (preview.critical_failed) parts.push(h('span', { class: 'tag tag-warn' }, t('review.eval.critical')));
    if (preview.missing.length) parts.push(h('span', { class: 'muted' }, t('review.eval.preview_incomplete', { n: preview.missing.length })));
    fill($('#eval-preview'), parts);
  }

  async submit() {
    const comment = $('#eval-form').elements.comment.value.trim();
    const body = { form: this.form.name, answers: this.answers };
    if (comment) body.comment = comment;
    const saved = await api.post(`/recordings/${seg(this.detail.recording.id)}/evaluations`, body);
    this.result = saved;
    this.renderResult();
    toast(t('review.eval.saved', { score: points(saved.score) }), 'ok');
    await this.reload();
    if (this.onSaved) this.onSaved(this.detail.recording.id);
  }

  questionText(id, formName = null) {
    const form = (formName && this.forms.get(formName)) || this.form;
    for (const section of (form && form.sections) || []) {
      const question = section.questions.find((q) => q.id === id);
      if (question) return text(question.text);
    }
    return id;
  }

  renderResult() {
    const saved = this.result;
    const box = $('#eval-result');
    if (!saved) {
      box.hidden = true;
      return;
    }
    fill(box,
      h('div', { class: `score-big${saved.critical_failed ? ' failed' : ''}`, id: 'eval-score', dataset: { score: String(saved.score) } },
        h('span', { class: 'muted' }, t('review.eval.result')), ' ', t('review.eval.points', { score: points(saved.score) })),
      saved.critical_failed ? h('p', { class: 'critical-note' }, t('review.eval.critical_failed', { before: points(saved.before_critical) })) : null,
      saved.failed_critical && saved.failed_critical.length
        ? h('p', { class: 'muted' }, t('review.eval.failed_items', { items: saved.failed_critical.map((id) => this.questionText(id)).join(', ') }))
        : null);
    box.hidden = false;
    box.scrollIntoView({ block: 'nearest' });
  }

  renderList() {
    const list = $('#evaluations');
    const rows = (this.found && this.found.evaluations) || [];
    if (!rows.length) {
      fill(list, h('li', { class: 'empty' }, t('review.eval.none')), this.ownCallNote());
      return;
    }
    fill(list, this.ownCallNote(), rows.map((e) => h('li', { class: 'eval-row', dataset: { evaluation: String(e.id) } },
      h('div', { class: 'eval-head' },
        h('strong', { class: e.critical_failed ? 'failed' : '' }, t('review.eval.points', { score: points(e.score) })),
        e.critical_failed ? h('span', { class: 'tag tag-warn' }, t('review.eval.critical')) : null,
        h('span', { class: 'muted' }, t('review.eval.by', { evaluator: e.evaluator, time: formatTime(e.updated_at, 'datetime') }))),
      e.comment ? h('p', { class: 'eval-comment' }, e.comment) : null,
      e.agent_comment ? h('p', { class: 'agent-comment' }, h('span', { class: 'muted' }, `${t('review.eval.agent_comment')}: `), e.agent_comment) : null,
      this.user.agent_id && e.agent_id === this.user.agent_id ? this.replyBox(e) : null)));
  }

  /** A supervisor who also takes calls opened one of their own: say why there is no sheet. */
  ownCallNote() {
    const own = this.user.agent_id && this.detail.recording.agent_id === this.user.agent_id;
    return own && ['supervisor', 'admin'].includes(this.user.role) && !this.detail.can_evaluate
      ? h('li', { class: 'empty' }, t('review.eval.own_call'))
      : null;
  }

  replyBox(evaluation) {
    const area = h('textarea', { rows: 2, maxlength: 4000, 'aria-label': t('review.eval.reply') });
    area.value = evaluation.agent_comment || '';
    const save = h('button', { type: 'button', class: 'btn btn-small' }, t('review.eval.reply_save'));
    save.addEventListener('click', () => busy(save, async () => {
      await api.post(`/evaluations/${seg(evaluation.id)}/comment`, { comment: area.value.trim() });
      toast(t('review.eval.reply_saved'), 'ok');
      await this.reload();
    }));
    return h('div', { class: 'reply' }, h('label', {}, h('span', {}, t('review.eval.reply')), area), h('div', { class: 'btn-row' }, save));
  }

  renderCalibration() {
    const box = $('#calibration');
    const spreads = ((this.found && this.found.calibration) || []).filter((c) => c.n > 1);
    if (!spreads.length) {
      box.hidden = true;
      return;
    }
    fill(box, h('h3', {}, t('review.cal')), spreads.map((c) => h('div', { class: 'cal', dataset: { form: c.form } },
      h('p', {}, t('review.cal.summary', { n: c.n, mean: points(c.mean), min: points(c.min), max: points(c.max), range: points(c.range) }),
        c.stdev !== null ? h('span', { class: 'muted' }, ` · ${t('review.cal.stdev', { stdev: points(c.stdev) })}`) : null),
      h('ul', { class: 'chips' }, Object.entries(c.scores).map(([who, score]) => h('li', { class: 'chip' }, `${who} ${points(score)}`))),
      c.critical_split ? h('p', { class: 'critical-note' }, t('review.cal.critical_split')) : null,
      h('p', { class: 'muted' }, c.disagreements.length
        ? t('review.cal.disagreements', { items: c.disagreements.map((id) => this.questionText(id, c.form)).join(', ') })
        : t('review.cal.agreed')))));
    box.hidden = false;
  }

  rerender() {
    if (!this.detail) return;
    if (this.found) {
      this.renderList();
      this.renderCalibration();
    }
    if (this.form && !$('#eval-form').hidden) {
      if (this.summaries) {
        const select = $('#eval-form-name');
        const value = select.value;
        fill(select, this.summaries.map((f) => h('option', { value: f.name }, text(f.title))));
        select.value = value;
      }
      this.renderSheet();
    }
    this.renderResult();
  }
}
