// The repositories view: the configured repositories, whose defaults a
// work order for them takes when its create leaves the sandbox or steps
// out. Add (with an access check by the github service), check again,
// edit the defaults in place, delete after an inline confirmation.
import {h, replace} from '../dom.js';
import {get, post, request} from '../api.js';
import {STEPS, DESCRIPTIONS, DEFAULT_STEPS, missing, settle} from '../steps.js';
import {age, localTime, repoName} from '../format.js';

const SANDBOXES = [
  ['git_worktree', 'worktree (git_worktree)'],
  ['git_branch', 'branch (git_branch)'],
];

// What an add's refusal means, beyond the API's own detail: the person
// needs to know whether to fix the URL or skip the check.
const ADD_HINTS = {
  400: 'The github service could not access it (gh not logged in, or no such repository). Fix that, or uncheck "verify access" to add it anyway.',
  409: 'It is configured already (another spelling of the same repository counts).',
  502: 'The access check got no answer (is gh installed and logged in?). Uncheck "verify access" to add it without the check.',
  503: 'The gateway cannot check or store repositories right now; try again shortly.',
};

export function render(view) {
  const abort = new AbortController();
  const opts = {signal: abort.signal};
  const st = {view, opts, repos: [], listArea: h('div', {id: 'repo-list-area'}), first: true};
  replace(view,
    h('h1', {}, 'Repositories'),
    h('p', {class: 'muted repo-intro'},
      'A configured repository keeps the sandbox and steps its work orders take by default, and is offered in the create form. ',
      'Any repository URL works for a work order without configuring it.'),
    addForm(st),
    st.listArea);
  load(st);
  return () => abort.abort();
}

async function load(st) {
  try {
    st.repos = await get('repositories', st.opts);
    renderList(st);
  } catch (err) {
    if (err.name === 'AbortError') return;
    replace(st.listArea, h('p', {class: 'error', role: 'alert'}, `Could not read the repositories: ${describe(err)}`),
      h('button', {type: 'button', onclick: () => load(st)}, 'Try again'));
  }
  markReady(st);
}

// The first render (with the list, or the reason it could not be read)
// is what the browser tests wait for.
function markReady(st) {
  if (!st.first) return;
  st.first = false;
  document.body.dataset.view = 'repositories';
  st.view.dataset.ready = 'true';
}

function describe(err) {
  return err.status ? `${err.status}: ${err.detail || err.message}` : err.message;
}

// --- the add form -------------------------------------------------------

function addForm(st) {
  const url = h('input', {id: 'repo-url', name: 'repository_url', type: 'text', required: true, autocomplete: 'off',
    spellcheck: 'false', placeholder: 'https://github.com/owner/repo', 'aria-describedby': 'repo-error'});
  const verify = h('input', {id: 'repo-verify', type: 'checkbox', checked: true});
  const add = h('button', {id: 'repo-add', type: 'submit', class: 'primary'}, 'Add repository');
  const error = h('p', {id: 'repo-error', class: 'field-error', role: 'alert'});
  const note = h('p', {id: 'repo-added', class: 'muted', 'aria-live': 'polite'});
  const form = h('form', {id: 'repo-form', class: 'repo-form', novalidate: true},
    h('label', {for: 'repo-url'}, 'Repository URL'),
    h('div', {class: 'repo-form-row'}, url, add),
    error,
    h('div', {class: 'repo-verify-field'}, verify,
      h('label', {for: 'repo-verify'}, 'Verify access first'),
      h('span', {class: 'muted'}, ' (the github service checks it with gh)')),
    note);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitAdd(st, {url, verify, add, error, note});
  });
  return form;
}

async function submitAdd(st, f) {
  const value = f.url.value.trim();
  setFieldError(f, '');
  f.note.textContent = '';
  if (!value) {
    setFieldError(f, 'Give the repository URL, e.g. https://github.com/owner/repo.');
    f.url.focus();
    return;
  }
  f.add.disabled = true;
  f.add.textContent = f.verify.checked ? 'Checking access…' : 'Adding…';
  try {
    const repo = await post('repositories', {repository_url: value, verify: f.verify.checked}, st.opts);
    f.url.value = '';
    f.note.textContent = `Added ${label(repo)}${repo.is_verified ? ' (access verified)' : ''}.`;
    await load(st);
  } catch (err) {
    if (err.name === 'AbortError') return;
    // Nothing typed is lost: the URL and the checkbox stay as they were.
    const hint = ADD_HINTS[err.status];
    setFieldError(f, describe(err) + (hint ? ` ${hint}` : ''));
    f.url.focus();
  } finally {
    f.add.disabled = false;
    f.add.textContent = 'Add repository';
  }
}

function setFieldError(f, text) {
  f.error.textContent = text;
  if (text) f.url.setAttribute('aria-invalid', 'true');
  else f.url.removeAttribute('aria-invalid');
}

// --- the table ----------------------------------------------------------

function renderList(st) {
  if (!st.repos.length) {
    replace(st.listArea, emptyState());
    return;
  }
  const rows = st.repos.map((r) => row(st, r));
  replace(st.listArea, h('div', {class: 'table-wrap'},
    h('table', {id: 'repositories', class: 'repo-table'},
      h('caption', {class: 'muted'}, `${st.repos.length} configured ${st.repos.length === 1 ? 'repository' : 'repositories'}`),
      h('thead', {}, h('tr', {},
        ...['Repository', 'Verified', 'Default branch', 'Sandbox', 'Default steps', 'Actions'].map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, rows))));
}

function emptyState() {
  return h('section', {id: 'repo-empty', class: 'repo-empty', 'aria-labelledby': 'repo-empty-title'},
    h('h2', {id: 'repo-empty-title'}, 'No repository configured yet'),
    h('p', {}, 'Configuring a repository gives you:'),
    h('ul', {},
      h('li', {}, 'an access check before the first work order (gh, in the github service), so a typo or a missing login shows now rather than mid-run;'),
      h('li', {}, 'defaults: the sandbox and the steps each work order for it takes when its create leaves them out;'),
      h('li', {}, 'a pick list in the ', h('a', {href: '/ui/new'}, 'create form'), ' and the repository filter of the work-order list.')),
    h('p', {class: 'muted'}, 'It is optional: a work order can name any repository URL.'));
}

function label(r) {
  return r.display_name || repoName(r.repository_url);
}

function row(st, r) {
  const tr = h('tr', {dataset: {repoId: r.id}});
  showRow(st, tr, r);
  return tr;
}

// showRow draws r into tr; message = {text, cls, accessible} is the
// outcome of what was just done to it.
function showRow(st, tr, r, message) {
  const m = message || {};
  const msg = h('p', {class: `repo-msg ${m.cls || ''}`, 'aria-live': 'polite',
    dataset: m.accessible === undefined ? undefined : {accessible: String(m.accessible)}}, m.text || '');
  const q = encodeURIComponent(r.repository_url);
  replace(tr,
    h('th', {scope: 'row', class: 'repo-name', dataset: {col: 'repository'}},
      h('span', {class: 'repo-title'}, label(r)),
      h('span', {class: 'repo-url mono'}, r.repository_url),
      h('span', {class: 'repo-links'},
        h('a', {href: `/ui/?repository_url=${q}`}, 'Work orders'),
        h('a', {href: `/ui/new?repository_url=${q}`}, 'New work order'))),
    h('td', {dataset: {col: 'verified', label: 'Verified'}}, verified(r)),
    h('td', {dataset: {col: 'branch', label: 'Default branch'}}, r.default_branch ? h('code', {}, r.default_branch) : h('span', {class: 'muted'}, '—')),
    h('td', {dataset: {col: 'sandbox', label: 'Sandbox'}}, r.default_sandbox_type || 'git_worktree'),
    h('td', {dataset: {col: 'steps', label: 'Default steps'}}, stepList(r.default_commands)),
    h('td', {class: 'repo-actions', dataset: {col: 'actions'}},
      h('div', {class: 'repo-buttons'},
        h('button', {type: 'button', class: 'repo-verify', onclick: () => verifyAgain(st, tr, r, msg)}, 'Verify again'),
        h('button', {type: 'button', class: 'repo-edit', onclick: () => showEditor(st, tr, r)}, 'Edit defaults'),
        h('button', {type: 'button', class: 'repo-delete danger', onclick: () => askDelete(st, tr, r, msg)}, 'Delete')),
      msg));
}

function verified(r) {
  if (!r.is_verified) return h('span', {class: 'repo-unverified muted'}, 'not verified');
  const when = r.last_verified_at;
  return h('span', {class: 'repo-verified'},
    h('span', {class: 'repo-check', 'aria-hidden': 'true'}, '✓ '), 'verified',
    when ? h('time', {class: 'repo-when muted', datetime: when, title: localTime(when)}, ` ${age(when)}`) : null);
}

function stepList(steps) {
  const list = steps && steps.length ? steps : DEFAULT_STEPS;
  // The spaces between the items are where a long chain may wrap.
  return h('ol', {class: 'repo-steps'}, list.flatMap((s, i) => (i ? [' ', h('li', {}, s)] : [h('li', {}, s)])));
}

async function verifyAgain(st, tr, r, msg) {
  const btn = tr.querySelector('button.repo-verify');
  btn.disabled = true;
  msg.className = 'repo-msg muted';
  msg.textContent = 'Checking access…';
  try {
    const res = await post(`repositories/${encodeURIComponent(r.id)}/verify`, undefined, st.opts);
    // The check updated the row (verified, last checked, name from
    // GitHub); only this row is redrawn, so an editor open on another
    // one keeps what was typed in it.
    st.repos = await get('repositories', st.opts);
    const now = st.repos.find((x) => x.id === r.id) || r;
    showRow(st, tr, now, res.is_accessible
      ? {text: 'Accessible.', cls: 'ok', accessible: true}
      : {text: 'Not accessible: the github service cannot reach it (is gh installed and logged in?).', cls: 'error', accessible: false});
  } catch (err) {
    if (err.name === 'AbortError') return;
    btn.disabled = false;
    msg.className = 'repo-msg error';
    msg.textContent = `Check failed: ${describe(err)}`;
  }
}

// --- delete, confirmed in place -------------------------------------------

function askDelete(st, tr, r, msg) {
  const cell = tr.querySelector('.repo-actions');
  const keep = h('button', {type: 'button', class: 'repo-delete-cancel'}, 'Keep it');
  const yes = h('button', {type: 'button', class: 'repo-delete-confirm danger'}, 'Yes, delete');
  const error = h('p', {class: 'repo-msg error', role: 'alert'});
  keep.addEventListener('click', () => {
    showRow(st, tr, r);
    tr.querySelector('button.repo-delete').focus();
  });
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    keep.disabled = true;
    try {
      await request('DELETE', `repositories/${encodeURIComponent(r.id)}`, undefined, st.opts);
      await load(st);
      document.getElementById('repo-url')?.focus();
    } catch (err) {
      if (err.name === 'AbortError') return;
      yes.disabled = false;
      keep.disabled = false;
      error.textContent = `Not deleted: ${describe(err)}`;
    }
  });
  replace(cell, h('div', {class: 'repo-confirm', role: 'group', 'aria-label': `Delete ${label(r)}?`, onkeydown: escapeTo(keep)},
    h('p', {}, `Delete ${label(r)}? Its work orders stay; new ones no longer take its defaults.`),
    h('div', {class: 'repo-buttons'}, yes, keep), error));
  keep.focus();
}

// escapeTo: Escape in an inline step (confirm, editor) backs out of it as
// its cancel button does.
function escapeTo(button) {
  return (e) => {
    if (e.key === 'Escape' && !button.disabled) {
      e.preventDefault();
      button.click();
    }
  };
}

// --- the defaults editor, in the row --------------------------------------

function showEditor(st, tr, r) {
  const prefix = `repo-${r.id}`;
  const sandbox = h('select', {class: 'repo-sandbox', id: `${prefix}-sandbox`, name: 'default_sandbox_type'},
    SANDBOXES.map(([v, text]) => h('option', {value: v, selected: v === (r.default_sandbox_type || 'git_worktree')}, text)));
  const picker = stepPicker(prefix, r.default_commands && r.default_commands.length ? r.default_commands : DEFAULT_STEPS);
  const save = h('button', {type: 'submit', class: 'repo-save primary'}, 'Save defaults');
  const cancel = h('button', {type: 'button', class: 'repo-cancel'}, 'Cancel');
  const error = h('p', {class: 'repo-edit-error field-error', role: 'alert'});
  const form = h('form', {class: 'repo-editor', 'aria-label': `Defaults of ${label(r)}`, onkeydown: escapeTo(cancel)},
    h('p', {class: 'repo-title'}, label(r), ' ', h('span', {class: 'repo-url mono'}, r.repository_url)),
    h('label', {for: sandbox.id}, 'Default sandbox'), sandbox,
    picker.el,
    error,
    h('div', {class: 'actions'}, save, cancel));
  cancel.addEventListener('click', () => {
    showRow(st, tr, r);
    tr.querySelector('button.repo-edit').focus();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    error.textContent = '';
    try {
      const body = {default_sandbox_type: sandbox.value, default_commands: picker.value()};
      const updated = await request('PATCH', `repositories/${encodeURIComponent(r.id)}`, body, st.opts);
      const i = st.repos.findIndex((x) => x.id === r.id);
      if (i >= 0) st.repos[i] = updated.data;
      showRow(st, tr, updated.data, {text: 'Defaults saved.', cls: 'ok'});
      tr.querySelector('button.repo-edit').focus();
    } catch (err) {
      if (err.name === 'AbortError') return;
      save.disabled = false;
      error.textContent = describe(err);
    }
  });
  replace(tr, h('td', {colspan: '6', class: 'repo-edit-cell'}, form));
  sandbox.focus();
}

// stepPicker: the step checkboxes as in the create form. A box whose
// needs are unchecked is disabled with the reason beside it, and
// unchecking a step unchecks what needs it (settle).
function stepPicker(prefix, initial) {
  let selected = settle(initial);
  const boxes = STEPS.map((step) => {
    const input = h('input', {type: 'checkbox', name: 'step', value: step, id: `${prefix}-step-${step}`});
    const hint = h('span', {class: 'step-hint muted', id: `${prefix}-hint-${step}`});
    input.setAttribute('aria-describedby', hint.id);
    input.addEventListener('change', () => {
      selected = settle(input.checked ? [...selected, step] : selected.filter((s) => s !== step));
      update();
    });
    return {step, input, hint,
      el: h('div', {class: 'step-choice'}, input,
        h('label', {for: input.id}, step, h('span', {class: 'muted step-desc'}, ` — ${DESCRIPTIONS[step]}`)), hint)};
  });
  function update() {
    for (const b of boxes) {
      const need = missing(b.step, selected);
      b.input.checked = selected.includes(b.step);
      b.input.disabled = need.length > 0;
      b.hint.textContent = need.length ? `needs ${need.join(' and ')}` : '';
      if (need.length) b.input.title = `needs ${need.join(' and ')}`;
      else b.input.removeAttribute('title');
    }
  }
  update();
  return {
    el: h('fieldset', {class: 'repo-steps-field'}, h('legend', {}, 'Default steps'), boxes.map((b) => b.el)),
    value: () => STEPS.filter((s) => selected.includes(s)),
  };
}
