// The create form. The steps respect their dependencies as the form is
// used (a box whose needs are unchecked is disabled, and says why), and a
// refused create shows the API's own words next to the field they name,
// with everything typed left in place.
import {h, replace} from '../dom.js';
import {post, get, APIError} from '../api.js';
import {navigate} from '../app.js';
import {STEPS, DEFAULT_STEPS, DESCRIPTIONS, missing, settle} from '../steps.js';

// The create request's fields, as the API's details name them.
const FIELDS = ['repository_url', 'user_request', 'github_issue_number', 'sandbox_type', 'agent', 'selected_commands'];
// The API names every problem at once, joined with "; "; split only where
// a field's name starts the next part, so a detail's own "; " stays.
const SPLIT = new RegExp(`;\\s+(?=(?:${FIELDS.join('|')}|[a-z_]+:))`);
const REPO_HELP = 'A configured repository, or any repository URL (https, ssh:// or git@host:owner/repo).';

export function render(view, _params, query) {
  const form = new CreateForm(view, query || {});
  return () => form.close();
}

class CreateForm {
  constructor(view, query) {
    this.view = view;
    this.ctl = new AbortController();
    this.dead = false;
    this.sending = false;
    this.configured = new Map(); // repository_url → configured repository
    this.applied = '';
    this.idem = {body: '', key: ''};
    this.ui = buildForm();
    view.append(this.ui.root);

    this.ui.form.addEventListener('submit', (e) => this.submit(e));
    this.ui.form.addEventListener('change', (e) => {
      if (e.target.name === 'step') this.settleSteps();
    });
    this.ui.repo.addEventListener('input', () => this.pickRepository());
    this.ui.repo.addEventListener('change', () => this.pickRepository());
    if (query.repository_url) this.ui.repo.value = query.repository_url;
    this.setSteps(DEFAULT_STEPS);
    this.loadRepositories().finally(() => this.ready());
  }

  close() {
    this.dead = true;
    this.ctl.abort();
    delete this.view.dataset.ready;
  }

  ready() {
    if (this.dead) return;
    this.pickRepository();
    this.view.dataset.ready = 'true';
    document.body.dataset.view = 'create';
    if (!this.ui.repo.value) this.ui.repo.focus();
  }

  async loadRepositories() {
    try {
      const list = await get('repositories', {signal: this.ctl.signal});
      if (this.dead || !Array.isArray(list)) return;
      const opts = [];
      for (const r of list) {
        if (!r || !r.repository_url) continue;
        this.configured.set(r.repository_url, r);
        opts.push(h('option', {value: r.repository_url}, r.display_name || r.repository_url));
      }
      replace(this.ui.datalist, opts);
    } catch {
      // No configured repositories (or no such route here): any URL still works.
    }
  }

  // pickRepository applies a configured repository's defaults when the
  // field comes to name it (once per choice, so later edits stick).
  pickRepository() {
    const url = this.ui.repo.value.trim();
    const repo = this.configured.get(url);
    if (!repo) {
      this.applied = '';
      this.ui.repoHelp.textContent = REPO_HELP;
      return;
    }
    if (this.applied === url) return;
    this.applied = url;
    if (repo.default_sandbox_type) this.ui.sandbox.value = repo.default_sandbox_type;
    // The repository's default_agent, else the server's (the empty option).
    this.ui.agent.value = repo.default_agent || '';
    if (Array.isArray(repo.default_commands) && repo.default_commands.length) this.setSteps(repo.default_commands);
    this.ui.repoHelp.textContent = `Configured repository${repo.default_branch ? ` (base branch ${repo.default_branch})` : ''}: its default sandbox, agent and steps are selected.`;
  }

  setSteps(selected) {
    for (const box of this.ui.boxes) {
      box.disabled = false;
      box.checked = selected.includes(box.value);
    }
    this.settleSteps();
  }

  // settleSteps unchecks what depends on an unchecked step and disables
  // every box whose needs are not checked, naming them.
  settleSteps() {
    const checked = this.ui.boxes.filter((b) => b.checked && !b.disabled).map((b) => b.value);
    const selected = settle(checked);
    for (const box of this.ui.boxes) {
      const needs = missing(box.value, selected);
      const hint = this.ui.hints.get(box.value);
      box.disabled = needs.length > 0;
      box.checked = !box.disabled && selected.includes(box.value);
      hint.textContent = needs.length ? `needs ${needs.join(' and ')}` : '';
      hint.hidden = !needs.length;
    }
  }

  values() {
    const body = {
      repository_url: this.ui.repo.value.trim(),
      user_request: this.ui.request.value,
      sandbox_type: this.ui.sandbox.value,
      selected_commands: this.ui.boxes.filter((b) => b.checked).map((b) => b.value),
    };
    const issue = this.ui.issue.value.trim();
    if (issue) body.github_issue_number = issue;
    if (this.ui.agent.value) body.agent = this.ui.agent.value;
    return body;
  }

  async submit(e) {
    e.preventDefault();
    if (this.sending) return;
    this.clearErrors();
    const body = this.values();
    this.busy(true);
    try {
      const res = await post('', body, {signal: this.ctl.signal, headers: {'Idempotency-Key': this.keyFor(body)}});
      if (this.dead) return;
      await navigate(`/ui/work-orders/${encodeURIComponent(res.agent_work_order_id)}`);
    } catch (err) {
      if (this.dead) return;
      this.showErrors(err);
    } finally {
      if (!this.dead) this.busy(false);
    }
  }

  // keyFor keeps one Idempotency-Key while the request is unchanged, so
  // sending again after a lost answer cannot make a second work order.
  keyFor(body) {
    const s = JSON.stringify(body);
    if (s !== this.idem.body) this.idem = {body: s, key: uuid()};
    return this.idem.key;
  }

  busy(on) {
    this.sending = on;
    this.ui.submit.disabled = on;
    this.ui.submit.textContent = on ? 'Creating…' : 'Create work order';
    this.ui.form.setAttribute('aria-busy', String(on));
  }

  clearErrors() {
    for (const [field, el] of this.ui.errors) {
      el.textContent = '';
      el.hidden = true;
      this.ui.controls.get(field)?.removeAttribute('aria-invalid');
    }
    this.ui.general.textContent = '';
    this.ui.general.hidden = true;
  }

  showErrors(err) {
    if (!(err instanceof APIError)) {
      this.general(`Could not reach the gateway: ${err && err.message ? err.message : err}. Nothing was created; what you typed is still here.`);
      return;
    }
    const rest = [];
    let first = null;
    for (const part of String(err.detail || err.message).split(SPLIT)) {
      const field = FIELDS.find((f) => part.startsWith(f) && /^[:\s]/.test(part.slice(f.length)));
      const el = field && this.ui.errors.get(field);
      if (!el) {
        rest.push(part);
        continue;
      }
      el.textContent = el.textContent ? `${el.textContent}; ${part}` : part;
      el.hidden = false;
      const control = this.ui.controls.get(field);
      control.setAttribute('aria-invalid', 'true');
      first = first || control;
    }
    if (rest.length) this.general(`${rest.join('; ')} (HTTP ${err.status})`);
    (first || this.ui.general).focus();
  }

  general(text) {
    this.ui.general.textContent = text;
    this.ui.general.hidden = false;
  }
}

function buildForm() {
  const errors = new Map(FIELDS.map((f) => [f, h('p', {id: `error-${f}`, class: 'field-error', dataset: {errorFor: f}, hidden: true})]));
  const repoHelp = h('p', {id: 'create-repository-help', class: 'help'}, REPO_HELP);
  const repo = h('input', {id: 'create-repository', name: 'repository_url', type: 'text', list: 'repo-options', required: true,
    autocomplete: 'off', spellcheck: 'false', placeholder: 'https://github.com/owner/repo',
    'aria-describedby': 'create-repository-help error-repository_url'});
  const datalist = h('datalist', {id: 'repo-options'});
  const request = h('textarea', {id: 'create-request', name: 'user_request', required: true, rows: 6,
    placeholder: 'What should the agent do? e.g. "Fix the off-by-one in the pager and add a test."',
    'aria-describedby': 'error-user_request'});
  const issue = h('input', {id: 'create-issue', name: 'github_issue_number', type: 'text', inputmode: 'numeric',
    autocomplete: 'off', placeholder: '42', size: 8, 'aria-describedby': 'create-issue-help error-github_issue_number'});
  const sandbox = h('select', {id: 'create-sandbox', name: 'sandbox_type', 'aria-describedby': 'error-sandbox_type'},
    h('option', {value: 'git_worktree'}, 'git worktree (default)'),
    h('option', {value: 'git_branch'}, 'git branch (a fresh clone)'));
  // Empty: the server chooses (the repository's default_agent, else
  // AWO_DEFAULT_AGENT); /health does not say which that is.
  const agent = h('select', {id: 'create-agent', name: 'agent', 'aria-describedby': 'create-agent-help error-agent'},
    h('option', {value: ''}, 'server default'),
    h('option', {value: 'claude'}, 'Claude Code'),
    h('option', {value: 'codex'}, 'Codex'));
  const steps = stepBoxes();
  const general = h('p', {id: 'create-error', class: 'error', role: 'alert', tabindex: '-1', hidden: true});
  const submit = h('button', {id: 'create-submit', type: 'submit', class: 'primary'}, 'Create work order');
  const fieldset = h('fieldset', {class: 'steps', 'aria-describedby': 'error-selected_commands'},
    h('legend', {}, 'Steps'),
    h('ul', {class: 'step-list'}, steps.items),
    errors.get('selected_commands'));
  const form = h('form', {id: 'create-form', class: 'create-form', novalidate: true},
    h('div', {class: 'field'},
      h('label', {for: 'create-repository'}, 'Repository'), repo, datalist, repoHelp, errors.get('repository_url')),
    h('div', {class: 'field'},
      h('label', {for: 'create-request'}, 'Request'), request, errors.get('user_request')),
    h('div', {class: 'field-row'},
      h('div', {class: 'field'},
        h('label', {for: 'create-issue'}, 'Issue number ', h('span', {class: 'muted'}, '(optional)')), issue,
        h('p', {id: 'create-issue-help', class: 'help'}, 'Its title and body are given to the planner.'),
        errors.get('github_issue_number')),
      h('div', {class: 'field'},
        h('label', {for: 'create-sandbox'}, 'Sandbox'), sandbox, errors.get('sandbox_type')),
      h('div', {class: 'field'},
        h('label', {for: 'create-agent'}, 'Agent'), agent,
        h('p', {id: 'create-agent-help', class: 'help'}, 'The coding agent CLI that runs the steps.'),
        errors.get('agent'))),
    fieldset,
    general,
    h('div', {class: 'actions'}, submit, h('a', {href: '/ui/'}, 'Cancel')));
  const root = h('section', {class: 'create-view', 'aria-labelledby': 'create-title'},
    h('h1', {id: 'create-title'}, 'New work order'), form);
  const controls = new Map([
    ['repository_url', repo], ['user_request', request], ['github_issue_number', issue],
    ['sandbox_type', sandbox], ['agent', agent], ['selected_commands', steps.boxes[0]],
  ]);
  return {root, form, repo, repoHelp, datalist, request, issue, sandbox, agent, submit, general, errors, controls, ...steps};
}

function stepBoxes() {
  const boxes = [];
  const hints = new Map();
  const items = STEPS.map((step) => {
    const id = `step-${step}`;
    const box = h('input', {type: 'checkbox', id, name: 'step', value: step, 'aria-describedby': `${id}-hint ${id}-desc`});
    const hint = h('span', {id: `${id}-hint`, class: 'step-hint', hidden: true});
    boxes.push(box);
    hints.set(step, hint);
    return h('li', {},
      box,
      h('label', {for: id}, h('span', {class: 'mono'}, step), ' ', h('span', {id: `${id}-desc`, class: 'muted'}, DESCRIPTIONS[step] || '')),
      hint);
  });
  return {boxes, hints, items};
}

// uuid works on a plain-http origin too, where crypto.randomUUID is missing.
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
