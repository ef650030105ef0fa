// The agent script (cti_server/crm/scripts.py): say steps are read out, question steps wait
// for the customer's answer (a choice, or typed text), end steps suggest a disposition.
// The answers ({step_id: choice id or text}) are what the disposition posts, so the server
// replays the same path; they are kept per call, so a new call arriving during the previous
// one's wrap-up does not take its answers away.

import { api, seg } from '../api.js';
import { lang, t } from '../i18n.js';
import { $, fill, h } from '../ui.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}/g;

/** A {ko, en} text (or a plain string) in the page's language. */
export function localized(text) {
  if (text === null || text === undefined) return '';
  if (typeof text === 'string') return text;
  return text[lang()] ?? text.ko ?? text.en ?? '';
}

/** The text split into plain strings and placeholders; a placeholder with no value stays
 * visible (marked), so the agent knows to ask for it. */
export function fillParts(text, context) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    parts.push(text.slice(last, match.index));
    let node = context;
    for (const key of match[1].split('.')) node = node && typeof node === 'object' ? node[key] : undefined;
    parts.push(node === undefined || node === null || typeof node === 'object'
      ? h('mark', { class: 'ask' }, match[0])
      : String(node));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

export class ScriptPanel {
  /** @param {{onFinished: (disposition: string) => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.callId = null;
    this.script = null;
    this.steps = new Map();
    this.trail = [];
    this.answers = {};
    this.saved = new Map(); // call id -> answers, for calls no longer shown
    this.context = {};
    this.wire();
  }

  wire() {
    $('#script-next').addEventListener('click', () => this.next());
    $('#script-back').addEventListener('click', () => this.back());
    $('#script-restart').addEventListener('click', () => this.restart());
  }

  /** Show a call's script: the tree, or its name (fetched), or none. */
  async load(callId, script, context) {
    if (callId === this.callId && this.script) {
      this.context = context;
      this.render();
      return;
    }
    if (this.callId) this.saved.set(this.callId, { ...this.answers });
    this.callId = callId;
    this.context = context;
    this.answers = {};
    this.setScript(null);
    // a name, or a position view ({script: name, path, current}) instead of the tree
    const name = typeof script === 'string' ? script
      : script && !Array.isArray(script.steps) ? script.script || script.name : null;
    if (name) {
      script = await api.get(`/scripts/${seg(name)}`, { quiet: true }).catch(() => null);
      if (callId !== this.callId) return; // another call arrived meanwhile
    }
    this.setScript(script && Array.isArray(script.steps) ? script : null);
  }

  setScript(script) {
    this.script = script;
    this.steps = new Map((script ? script.steps : []).map((step) => [String(step.id), step]));
    const start = script ? String(script.start ?? script.steps[0]?.id) : null;
    this.trail = start ? [start] : [];
    this.render();
  }

  /** The answers given on a call (the one shown, or an earlier one). */
  answersFor(callId) {
    if (callId === this.callId) return { ...this.answers };
    return { ...(this.saved.get(callId) || {}) };
  }

  /** What the script's end step suggests for the disposition of the call shown. */
  suggestion() {
    const step = this.current();
    return step && step.kind === 'end' ? step.disposition || null : null;
  }

  current() {
    return this.steps.get(this.trail[this.trail.length - 1]) || null;
  }

  go(nextId) {
    if (!nextId || !this.steps.has(String(nextId))) return;
    this.trail.push(String(nextId));
    this.render();
    const step = this.current();
    if (step.kind === 'end' && step.disposition) this.hooks.onFinished(step.disposition);
  }

  choose(step, choice) {
    this.answers[step.id] = String(choice.id);
    this.go(choice.next);
  }

  next() {
    const step = this.current();
    if (!step) return;
    if (step.kind === 'say') this.go(step.next);
    if (step.kind === 'question' && !(step.choices || []).length) {
      const input = $('#script-free');
      const text = input ? input.value.trim() : '';
      if (!text && !step.optional) {
        if (input) input.focus();
        return;
      }
      this.answers[step.id] = text;
      this.go(step.next);
    }
  }

  back() {
    if (this.trail.length < 2) return;
    this.trail.pop();
    const step = this.current();
    if (step && step.kind === 'question') delete this.answers[step.id];
    this.render();
  }

  restart() {
    this.answers = {};
    this.trail = this.trail.slice(0, 1);
    this.render();
  }

  render() {
    const step = this.current();
    $('#script-empty').hidden = Boolean(step);
    $('#script-body').hidden = !step;
    fill($('#script-name'), this.script ? localized(this.script.title) || this.script.name : '');
    if (!step) return;
    fill($('#script-path'), this.trail.slice(0, -1).map((id) => this.crumb(id)));
    const text = $('#script-text');
    fill(text, fillParts(localized(step.text), this.context));
    text.dataset.kind = step.kind;
    fill($('#script-choices'), this.controls(step));
    $('#script-back').disabled = this.trail.length < 2;
    const next = $('#script-next');
    next.hidden = !(step.kind === 'say' || (step.kind === 'question' && !(step.choices || []).length));
  }

  crumb(id) {
    const step = this.steps.get(id);
    const answer = this.answers[id];
    const choice = step && (step.choices || []).find((c) => String(c.id) === answer);
    return h('li', { title: localized(step && step.text) },
      choice ? localized(choice.label) : answer || id);
  }

  controls(step) {
    if (step.kind === 'end') return h('p', { class: 'script-done' }, t('script.done'));
    if (step.kind !== 'question') return [];
    const choices = step.choices || [];
    if (!choices.length) {
      return h('input', {
        id: 'script-free',
        class: 'script-free',
        value: this.answers[step.id] || '',
        'aria-label': localized(step.text),
        onkeydown: (event) => {
          if (event.key === 'Enter') this.next();
        },
      });
    }
    return choices.map((choice, i) => h('button', {
      type: 'button',
      class: 'btn choice',
      dataset: { choice: String(choice.id) },
      title: i < 9 ? `${i + 1}` : null,
      onclick: () => this.choose(step, choice),
    }, i < 9 ? h('kbd', {}, String(i + 1)) : null, localized(choice.label)));
  }

  /** Number keys 1-9 pick a choice while the panel has focus or nothing else does. */
  handleKey(event) {
    const step = this.current();
    if (!step || step.kind !== 'question' || !/^[1-9]$/.test(event.key)) return false;
    const choice = (step.choices || [])[Number(event.key) - 1];
    if (!choice) return false;
    this.choose(step, choice);
    return true;
  }

  clear() {
    if (this.callId) this.saved.set(this.callId, { ...this.answers });
    this.callId = null;
    this.answers = {};
    this.setScript(null);
  }
}
