// The evaluation score as cti_server/qa/forms.py computes it, for the live preview while a
// supervisor fills in the form: yes = 1, no = 0, a scale point = answer/max, n/a drops out of
// its section; a section is the weighted mean of its questions, the total the weighted mean of
// the sections that count, as 0..100 rounded half up to one decimal; a failed critical question
// (no, or a scale point below its pass mark, default 1) makes the total 0. The server scores
// again, exactly, when the evaluation is saved: what it says is the score.

export const NA = 'na';

export function worth(question, answer) {
  if (answer === NA) return null;
  if (question.type === 'scale') return Number(answer) / question.max;
  return answer === 'yes' ? 1 : 0;
}

export function fails(question, answer) {
  if (!question.critical || answer === NA || answer === undefined) return false;
  if (question.type === 'scale') return Number(answer) < (question.pass_mark || 1);
  return answer === 'no';
}

const percent = (value) => Math.floor(value * 1000 + 0.5 + 1e-9) / 10;

/** {total, before, critical_failed, failed: [question ids], missing: [question ids]};
 * total is null while nothing weighted has been answered. */
export function previewScore(form, answers) {
  const missing = [];
  const failed = [];
  let earned = 0;
  let weights = 0;
  for (const section of form.sections || []) {
    let sectionEarned = 0;
    let sectionWeights = 0;
    for (const question of section.questions) {
      const answer = answers[question.id];
      if (answer === undefined) {
        missing.push(question.id);
        continue;
      }
      if (fails(question, answer)) failed.push(question.id);
      const value = worth(question, answer);
      const weight = question.weight ?? 1;
      if (value === null || weight === 0) continue;
      sectionEarned += weight * value;
      sectionWeights += weight;
    }
    const sectionWeight = section.weight ?? 1;
    if (sectionWeights > 0 && sectionWeight > 0) {
      earned += sectionWeight * (sectionEarned / sectionWeights);
      weights += sectionWeight;
    }
  }
  const before = weights ? percent(earned / weights) : null;
  return { total: failed.length ? 0 : before, before, critical_failed: failed.length > 0, failed, missing };
}
