// The steps a work order can select, in the order they run, and what each
// one needs selected before it makes sense: the create form disables a box
// whose needs are not checked and says why.

export const STEPS = ['create-branch', 'planning', 'execute', 'prp-review', 'commit', 'create-pr'];
export const DEFAULT_STEPS = ['create-branch', 'planning', 'execute', 'commit', 'create-pr'];

export const NEEDS = {
  'create-branch': [],
  planning: [],
  execute: ['planning'],
  'prp-review': ['execute'],
  commit: ['execute'],
  'create-pr': ['create-branch', 'commit'],
};

export const DESCRIPTIONS = {
  'create-branch': 'create the work branch',
  planning: 'the Planner writes a plan',
  execute: 'the Implementor carries out the plan',
  'prp-review': 'the Reviewer checks the result against the plan',
  commit: 'commit and push the branch',
  'create-pr': 'open the pull request',
};

// missing(step, selected) → the needed steps not in selected.
export function missing(step, selected) {
  return (NEEDS[step] || []).filter((s) => !selected.includes(s));
}

// settle drops every step whose needs are not met, until none is left to
// drop (unchecking planning unchecks execute, then commit, …).
export function settle(selected) {
  let out = STEPS.filter((s) => selected.includes(s));
  for (;;) {
    const next = out.filter((s) => missing(s, out).length === 0);
    if (next.length === out.length) return next;
    out = next;
  }
}

// progress: "3/5" — the current step's place among the selected ones, all
// of them when the work order completed.
export function progress(wo) {
  const sel = wo.selected_commands || [];
  if (!sel.length) return '';
  if (wo.status === 'completed') return `${sel.length}/${sel.length}`;
  if (wo.status === 'pending') return `0/${sel.length}`;
  const i = sel.indexOf(wo.current_phase);
  // A follow-up round runs steps of its own (follow-up, comment-pr) that
  // are not among the selected ones: no count rather than a wrong one.
  return i >= 0 ? `${i + 1}/${sel.length}` : '';
}
