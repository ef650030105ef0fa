// Agent state charts in inline SVG, no library: a donut for the selected group and a thin
// stacked bar per queue tile. Colours come from the stylesheet (.seg-<state>), the same ones
// as the state badges, so a colour means one state everywhere. Every segment carries
// data-state and data-count (the tests read them) and a <title> tooltip.

import { h } from './ui.js';

/** Display order: available first, then working, then unavailable. */
export const STATES = ['ready', 'reserved', 'busy', 'wrap_up', 'not_ready', 'away', 'logged_out'];
const ALIASES = { ringing: 'reserved', talking: 'busy' };

/** Counts per state for a list of agents (every state present, zeros included). */
export function countStates(agents) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const agent of agents) {
    const state = ALIASES[agent.state] || agent.state;
    if (state in counts) counts[state] += 1;
  }
  return counts;
}

/** The server's {state: n} map brought to our names (unknown names dropped). */
export function normalizeCounts(states) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const [name, n] of Object.entries(states || {})) {
    const state = ALIASES[name] || name;
    if (state in counts) counts[state] += Number(n) || 0;
  }
  return counts;
}

const R = 48;
const C = 2 * Math.PI * R;

/** Fill an <svg viewBox="0 0 120 120"> with a donut of the counts and the total inside. */
export function drawDonut(svg, counts, { label, stateLabel }) {
  const total = STATES.reduce((sum, s) => sum + counts[s], 0);
  const parts = [h('svg:circle', { class: 'donut-track', cx: 60, cy: 60, r: R })];
  let offset = 0;
  for (const state of STATES) {
    const n = counts[state];
    if (!n) continue;
    const length = (n / total) * C;
    parts.push(h('svg:circle', {
      class: `donut-seg seg-${state}`,
      cx: 60,
      cy: 60,
      r: R,
      'stroke-dasharray': `${length} ${C - length}`,
      'stroke-dashoffset': String(-offset),
      transform: 'rotate(-90 60 60)',
      'data-state': state,
      'data-count': String(n),
    }, h('svg:title', {}, `${stateLabel(state)} ${n}`)));
    offset += length;
  }
  parts.push(
    h('svg:text', { class: 'donut-total', x: 60, y: 57, 'text-anchor': 'middle', 'dominant-baseline': 'central' }, String(total)),
    h('svg:text', { class: 'donut-label', x: 60, y: 78, 'text-anchor': 'middle' }, label));
  svg.replaceChildren(...parts);
  svg.setAttribute('aria-label', `${label} ${total}: ${STATES.filter((s) => counts[s]).map((s) => `${stateLabel(s)} ${counts[s]}`).join(', ')}`);
  svg.dataset.total = String(total);
}

/** A 100%-wide stacked bar (an <svg> element) of the counts. */
export function stackedBar(counts, stateLabel) {
  const total = STATES.reduce((sum, s) => sum + counts[s], 0);
  const svg = h('svg:svg', { class: 'stack', viewBox: '0 0 100 6', preserveAspectRatio: 'none', role: 'img' });
  if (!total) {
    svg.append(h('svg:rect', { class: 'stack-empty', x: 0, y: 0, width: 100, height: 6 }));
    return svg;
  }
  let x = 0;
  for (const state of STATES) {
    const n = counts[state];
    if (!n) continue;
    const width = (n / total) * 100;
    svg.append(h('svg:rect', { class: `seg-${state}`, x, y: 0, width, height: 6, 'data-state': state, 'data-count': String(n) },
      h('svg:title', {}, `${stateLabel(state)} ${n}`)));
    x += width;
  }
  svg.setAttribute('aria-label', STATES.filter((s) => counts[s]).map((s) => `${stateLabel(s)} ${counts[s]}`).join(', '));
  return svg;
}
