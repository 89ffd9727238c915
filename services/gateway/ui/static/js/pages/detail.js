// The detail view of one work order: what it is, its steps (agent output
// rendered as Markdown, safely), git progress, the live log, and the
// actions its state allows. It follows the work order's events and
// re-reads on each; the log follows /logs/stream.

import {h, replace} from '../dom.js';
import {APIError, BASE, get, post} from '../api.js';
import {stream} from '../sse.js';
import {age, clock, duration, localTime, repoName, tokens, usd} from '../format.js';
import {progress} from '../steps.js';
import {render as markdown} from '../markdown.js';

const MAX_LOG_ENTRIES = 5000;
const LEVELS = ['debug', 'info', 'warning', 'error'];
const ENDED = ['completed', 'failed', 'cancelled'];

export function render(view, params) {
  const id = params[0];
  const path = encodeURIComponent(id);
  // The previous view's readiness must not count for this one.
  delete view.dataset.ready;
  const page = new DetailPage(view, id, path);
  return () => page.close();
}

class DetailPage {
  constructor(view, id, path) {
    this.view = view;
    this.id = id;
    this.path = path;
    this.closed = false;
    this.wo = null;
    this.stepsKey = '';
    this.openSteps = new Map(); // step key → open, as the person left it
    this.inflight = null;
    this.queued = false;
    this.logClose = null;
    this.logEnded = false;
    this.title = document.title;
    document.title = `${id} · Agent Work Orders`;
    // The events feed is open before the first read, so a change made in
    // between still triggers a re-read. A feed that cannot open (or is
    // slow to) holds the page up for a moment only.
    let opened;
    const open = new Promise((resolve) => { opened = resolve; });
    this.eventsClose = stream(`${BASE}/events?id=${encodeURIComponent(id)}&from=now`, {
      onEvent: (ev) => {
        // Only these reopen a work order whose log has ended; a late read
        // that still says "running" must not restart (and blank) the log.
        if (/\.workorder\.(retry_requested|follow_up_requested)\./.test((ev.data && ev.data.type) || '')) this.reopened = true;
        this.refresh();
      },
      onState: opened,
    });
    this.inflight = Promise.race([open, new Promise((r) => setTimeout(r, 1500))]).then(() => {
      this.inflight = null;
      this.refresh();
    });
  }

  close() {
    if (!this.closed) document.title = this.title;
    this.closed = true;
    this.eventsClose();
    if (this.logClose) this.logClose();
  }

  // refresh re-reads the work order; a burst of events costs at most one
  // read in flight and one queued behind it.
  refresh() {
    if (this.closed) return;
    if (this.inflight) {
      this.queued = true;
      return;
    }
    this.inflight = this.load().finally(() => {
      this.inflight = null;
      if (this.queued) {
        this.queued = false;
        this.refresh();
      }
    });
  }

  async load() {
    let wo, steps, git;
    try {
      [wo, steps, git] = await Promise.all([
        get(this.path),
        get(`${this.path}/steps`),
        get(`${this.path}/git-progress`).catch(() => null),
      ]);
    } catch (err) {
      if (!this.closed) this.showLoadError(err);
      return;
    }
    if (this.closed) return;
    const first = !this.wo;
    this.wo = wo;
    if (first) this.build();
    this.update(wo, (steps && steps.steps) || [], git);
    if (first) {
      this.followLog();
      this.view.dataset.ready = 'true';
      document.body.dataset.view = 'detail';
    } else if (this.logEnded && this.reopened && !ENDED.includes(wo.status)) {
      this.reopened = false;
      // Retried or followed up after its log ended: follow the log again.
      this.followLog();
    }
  }

  showLoadError(err) {
    if (err instanceof APIError && err.status === 404) {
      this.close();
      replace(this.view, h('section', {id: 'not-found', class: 'not-found'},
        h('h1', {}, 'Work order not found'),
        h('p', {}, 'There is no work order ', h('code', {}, this.id), '. ',
          h('a', {href: '/ui/'}, 'Back to the work orders'))));
      this.view.dataset.ready = 'true';
      document.body.dataset.view = 'detail';
      return;
    }
    const msg = `Could not read the work order: ${err && err.message ? err.message : err}`;
    if (this.wo) {
      this.el.loadError.textContent = msg;
      return;
    }
    replace(this.view, h('section', {class: 'load-error'},
      h('h1', {}, `Work order ${this.id}`),
      h('p', {class: 'error', role: 'alert'}, msg),
      h('button', {type: 'button', onclick: () => this.refresh()}, 'Try again')));
  }

  // build lays out the page once; update fills it in. Inputs (the prompt,
  // the cancel reason, the log controls) are made here only, so a re-read
  // never loses what a person typed or where the focus is.
  build() {
    const el = (this.el = {});
    el.status = h('span', {id: 'wo-status', class: 'status'});
    el.facts = h('dl', {class: 'wo-facts'});
    el.request = h('div', {id: 'wo-request', class: 'wo-request'});
    el.error = h('div', {id: 'wo-error', class: 'wo-error', role: 'alert', hidden: true});
    el.waiting = h('p', {id: 'wo-waiting', class: 'wo-waiting', role: 'status', hidden: true});
    el.loadError = h('p', {class: 'error', role: 'status'});
    el.steps = h('ol', {id: 'steps', class: 'steps'});
    el.git = h('dl', {id: 'git-progress', class: 'git-progress wo-facts'});
    const actions = this.buildActions();
    const log = this.buildLog();
    replace(this.view, h('div', {class: 'detail'},
      h('p', {class: 'crumbs'}, h('a', {href: '/ui/'}, '← Work orders')),
      h('header', {class: 'wo-head'},
        h('h1', {}, h('span', {class: 'mono'}, this.id), ' ', el.status),
        el.request, el.error, el.waiting, el.loadError, el.facts),
      actions,
      h('div', {class: 'detail-grid'},
        h('section', {class: 'steps-section', 'aria-labelledby': 'steps-title'},
          h('h2', {id: 'steps-title'}, 'Steps'), el.steps),
        h('section', {class: 'git-section', 'aria-labelledby': 'git-title'},
          h('h2', {id: 'git-title'}, 'Git progress'), el.git)),
      log));
  }

  update(wo, steps, git) {
    const el = this.el;
    el.loadError.textContent = '';
    el.status.dataset.status = wo.status;
    el.status.textContent = wo.status;
    el.request.textContent = wo.user_request || '';
    replace(el.facts, ...facts(wo));
    this.updateError(wo, steps);
    this.updateWaiting(wo);
    this.updateActions(wo, steps);
    this.updateSteps(wo, steps);
    replace(el.git, ...gitFacts(git, wo));
  }

  updateError(wo, steps) {
    const el = this.el.error;
    if (wo.status !== 'failed' && wo.status !== 'cancelled') {
      el.hidden = true;
      replace(el);
      return;
    }
    const failed = [...steps].reverse().find((s) => !s.success);
    const step = (failed && failed.step) || wo.current_phase || '';
    const verb = wo.status === 'failed' ? 'Failed' : 'Cancelled';
    const message = wo.error_message || (failed && failed.error_message) || 'no error message';
    // Rebuilt only when it changed, so a screen reader announces it once.
    const key = JSON.stringify([verb, step, message]);
    if (!el.hidden && el.dataset.key === key) return;
    el.dataset.key = key;
    el.hidden = false;
    replace(el,
      h('p', {class: 'wo-error-title'}, `${verb} `,
        step ? ['at step ', h('strong', {dataset: {failedStep: step}}, step)]
          : h('span', {dataset: {failedStep: ''}}, 'before any step ran')),
      h('p', {class: 'wo-error-message'}, message));
  }

  // updateWaiting shows until when and why the step in hand waits (a usage
  // limit, the daily budget): the status stays running meanwhile.
  updateWaiting(wo) {
    const el = this.el.waiting;
    if (!waiting(wo)) {
      el.hidden = true;
      delete el.dataset.key;
      replace(el);
      return;
    }
    const why = wo.current_phase || 'waiting';
    // Rebuilt only when it changed, so a screen reader announces it once.
    const key = JSON.stringify([wo.waiting_until, why]);
    if (!el.hidden && el.dataset.key === key) return;
    el.dataset.key = key;
    el.hidden = false;
    replace(el, 'Waiting until ',
      h('time', {datetime: wo.waiting_until, title: wo.waiting_until}, localTime(wo.waiting_until)),
      ' — ', h('span', {class: 'wo-waiting-why'}, why));
  }

  // --- steps ---

  updateSteps(wo, steps) {
    const key = JSON.stringify([wo.status, wo.current_phase, wo.selected_commands, steps]);
    if (key === this.stepsKey) return;
    this.stepsKey = key;
    const rounds = new Map();
    for (const s of steps) {
      const r = s.round || 1;
      if (!rounds.has(r)) rounds.set(r, []);
      rounds.get(r).push(s);
    }
    const last = steps[steps.length - 1];
    const rows = (list) => list.map((s) => this.stepRow(s, s === last));
    const upcoming = upcomingRows(wo, steps);
    if (rounds.size <= 1) {
      replace(this.el.steps, rows(steps), upcoming);
    } else {
      replace(this.el.steps, [...rounds].map(([r, list], k) => h('li', {class: 'round', dataset: {round: String(r)}},
        h('h3', {}, r === 1 ? 'Round 1' : `Round ${r} — follow-up`),
        h('ol', {class: 'steps'}, rows(list), k === rounds.size - 1 ? upcoming : null))));
    }
    if (!steps.length && !upcoming.length) this.el.steps.append(h('li', {class: 'muted'}, 'No step has run yet.'));
  }

  stepRow(s, isLast) {
    const key = `${s.round || 1}.${s.step}.${s.attempt}`;
    const open = this.openSteps.has(key) ? this.openSteps.get(key) : isLast;
    const details = h('details', {class: 'step-details', open},
      h('summary', {}, 'Output'),
      h('div', {class: 'step-output md'}, s.output ? output(s.output) : h('p', {class: 'muted'}, 'no output')));
    details.addEventListener('toggle', () => this.openSteps.set(key, details.open));
    const ok = s.success;
    return h('li', {class: 'step', dataset: {step: s.step, attempt: String(s.attempt || 1),
      round: String(s.round || 1), success: String(!!ok)}},
    h('div', {class: 'step-head'},
      h('span', {class: `step-state ${ok ? 'ok' : 'failed'}`}, ok ? '✓ ok' : '✗ failed'),
      h('strong', {class: 'step-name'}, s.step),
      h('span', {class: 'step-agent'}, s.agent_name || ''),
      h('span', {class: 'step-attempt'}, `attempt ${s.attempt || 1}`)),
    h('div', {class: 'step-meta'},
      meta('duration', duration(s.duration_seconds)),
      meta('cost', knownUSD(s.cost_usd)),
      meta('tokens', `${tokens(s.input_tokens)} in / ${tokens(s.output_tokens)} out`),
      s.num_turns ? meta('turns', String(s.num_turns)) : null,
      s.session_id ? meta('session', h('code', {class: 'step-session'}, s.session_id)) : null,
      s.timestamp ? h('time', {class: 'muted', datetime: s.timestamp, title: localTime(s.timestamp)}, age(s.timestamp)) : null),
    !ok && s.error_message ? h('p', {class: 'step-error'}, s.error_message) : null,
    details);
  }

  // --- actions ---

  buildActions() {
    const a = (this.actions = {});
    const reason = (name) => h('span', {id: `action-${name}-reason`, class: 'reason'});
    a.error = h('p', {id: 'action-error', class: 'error', role: 'alert'});
    a.cancel = h('button', {id: 'action-cancel', type: 'button', class: 'danger', onclick: () => this.onCancel()}, 'Cancel');
    a.cancelReason = h('input', {id: 'cancel-reason', type: 'text', maxlength: '500', placeholder: 'optional',
      onkeydown: (e) => {
        if (e.key === 'Enter') this.onCancel();
        if (e.key === 'Escape') {
          this.setConfirm(false);
          a.cancel.focus();
        }
      }});
    a.cancelKeep = h('button', {type: 'button', onclick: () => this.setConfirm(false)}, 'Keep it running');
    a.cancelConfirm = h('span', {class: 'cancel-confirm', hidden: true},
      h('label', {for: 'cancel-reason'}, 'Reason'), a.cancelReason, a.cancelKeep);
    a.retry = h('button', {id: 'action-retry', type: 'button', onclick: () => this.act('retry')}, 'Retry');
    a.prompt = h('button', {id: 'action-prompt', type: 'button', onclick: () => this.onPrompt()}, 'Send follow-up');
    a.promptText = h('textarea', {id: 'prompt-text', rows: '3',
      placeholder: 'What else should the Implementor do on this branch? (Ctrl+Enter sends)',
      onkeydown: (e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !a.prompt.disabled) this.onPrompt();
      }});
    return h('section', {class: 'wo-actions', 'aria-labelledby': 'actions-title'},
      h('h2', {id: 'actions-title', class: 'visually-hidden'}, 'Actions'),
      h('div', {class: 'action-row'},
        h('div', {class: 'action'}, a.cancel, a.cancelConfirm, reason('cancel')),
        h('div', {class: 'action'}, a.retry, reason('retry'))),
      h('div', {class: 'action action-prompt'},
        a.promptField = h('div', {class: 'prompt-field'},
          h('label', {for: 'prompt-text'}, 'Follow-up prompt'),
          a.promptText),
        h('div', {class: 'action-row'}, a.prompt, reason('prompt'))),
      a.error);
  }

  updateActions(wo, steps) {
    const canCancel = wo.status === 'pending' || wo.status === 'running';
    if (!canCancel) this.setConfirm(false);
    setAction('cancel', this.actions.cancel, canCancel ? '' : 'only a pending or running work order can be cancelled');
    let retry = '';
    const now = waiting(wo);
    if (now) retry = '';
    else if (wo.status !== 'failed' && wo.status !== 'cancelled') retry = 'only a failed or cancelled work order, or one whose step waits, can be retried';
    else if (!steps.length) retry = 'nothing to retry: it ended before any step ran';
    // While the step waits, retry runs it now instead of at waiting_until.
    this.actions.retry.textContent = now ? 'Retry now' : 'Retry';
    setAction('retry', this.actions.retry, retry);
    let prompt = '';
    if (wo.status === 'cancelled') prompt = 'a cancelled work order has no sandbox left: retry it instead';
    else if (wo.status !== 'completed' && wo.status !== 'failed') prompt = 'a follow-up can be sent once the work order has completed or failed';
    else if (!wo.git_branch_name) prompt = 'it ended before its branch was created';
    setAction('prompt', this.actions.prompt, prompt);
    // The prompt box takes room only when a follow-up can be sent.
    this.actions.promptText.disabled = !!prompt;
    this.actions.promptField.hidden = !!prompt;
  }

  setConfirm(on) {
    const a = this.actions;
    this.confirming = on;
    a.cancelConfirm.hidden = !on;
    a.cancel.textContent = on ? 'Really cancel?' : 'Cancel';
    if (!on) a.cancelReason.value = '';
  }

  onCancel() {
    if (!this.confirming) {
      this.setConfirm(true);
      this.actions.cancelReason.focus();
      return;
    }
    const reason = this.actions.cancelReason.value.trim();
    this.act('cancel', reason ? {reason} : undefined).then((ok) => ok && this.setConfirm(false));
  }

  onPrompt() {
    const text = this.actions.promptText.value.trim();
    if (!text) {
      this.actions.error.textContent = 'Write the follow-up prompt first.';
      this.actions.promptText.focus();
      return;
    }
    this.act('prompt', {prompt_text: text}).then((ok) => {
      if (ok) this.actions.promptText.value = '';
    });
  }

  // act POSTs an action; a refusal shows the API's detail. Resolves true
  // when the action was accepted.
  async act(name, body) {
    const btn = this.actions[name];
    this.actions.error.textContent = '';
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      await post(`${this.path}/${name}`, body);
      return true;
    } catch (err) {
      this.actions.error.textContent = err instanceof APIError && err.detail ? err.detail : String(err.message || err);
      return false;
    } finally {
      btn.removeAttribute('aria-busy');
      btn.disabled = false;
      this.refresh();
    }
  }

  // --- live log ---

  buildLog() {
    const l = (this.log = {dropped: 0, pending: [], timer: 0, lastTop: 0});
    l.level = h('select', {id: 'log-level', onchange: () => this.applyLevel()},
      LEVELS.map((v) => h('option', {value: v, selected: v === 'info'}, v === 'debug' ? 'debug (all)' : `${v} and above`)));
    l.follow = h('input', {id: 'log-follow', type: 'checkbox', checked: true,
      onchange: () => l.follow.checked && this.scrollLog()});
    l.state = h('span', {id: 'log-state', class: 'log-state', role: 'status', dataset: {state: 'connecting'}}, 'connecting…');
    l.note = h('p', {class: 'log-note muted', hidden: true});
    l.box = h('div', {id: 'log', class: 'log', role: 'log', 'aria-live': 'off', 'aria-labelledby': 'log-title',
      tabindex: '0', dataset: {minLevel: 'info'}});
    l.box.addEventListener('scroll', () => this.onLogScroll());
    return h('section', {class: 'log-section', 'aria-labelledby': 'log-title'},
      h('div', {class: 'log-bar'},
        h('h2', {id: 'log-title'}, 'Live log'),
        h('label', {for: 'log-level', class: 'inline'}, 'Level'), l.level,
        h('label', {for: 'log-follow', class: 'inline'}, l.follow, ' Follow'),
        l.state),
      l.note, l.box);
  }

  // followLog (re)opens the log stream from its first entry. A stream that
  // ended is opened afresh rather than resumed: the work order's own
  // start/retry/end entries are rendered from its events and carry no id,
  // so a resume would miss "work order retried".
  followLog() {
    if (this.logClose) this.logClose();
    const l = this.log;
    clearTimeout(l.timer);
    l.timer = 0;
    l.pending = [];
    l.dropped = 0;
    l.finished = new Set();
    l.note.hidden = true;
    replace(l.box);
    this.logEnded = false;
    this.logClose = stream(`${BASE}/${this.path}/logs/stream`, {
      endEvent: 'end',
      onEvent: (ev) => {
        if (ev.event !== 'end' && ev.data && typeof ev.data === 'object') this.queueEntry(ev.data);
      },
      onState: (state, msg) => this.setLogState(state, msg),
    });
  }

  setLogState(state, msg) {
    // What arrived before the stream ended is on the page when it says so.
    if (this.log.timer) {
      clearTimeout(this.log.timer);
      this.flushLog();
    }
    const labels = {open: 'connected', reconnecting: 'reconnecting…', ended: 'ended', failed: 'failed'};
    if (state === 'ended') this.logEnded = true;
    const s = this.log.state;
    s.dataset.state = state;
    s.textContent = labels[state] || state;
    s.title = msg || '';
    if (state === 'failed' && msg) s.textContent = `failed: ${msg}`;
  }

  // Entries are appended in batches: a stream resumed on a long log sends
  // thousands at once, and one layout per batch keeps the page responsive.
  queueEntry(e) {
    const l = this.log;
    l.pending.push(e);
    if (!l.timer) l.timer = setTimeout(() => this.flushLog(), 30);
  }

  flushLog() {
    const l = this.log;
    l.timer = 0;
    if (this.closed) return;
    const frag = document.createDocumentFragment();
    for (const e of l.pending.splice(0)) {
      const el = logEntry(e, this.wo);
      // The executor follows a step's step_finished line with a
      // step_completed line saying the same (Archon's UI reads the second):
      // kept in the page, shown once.
      const key = `${e.step}/${e.attempt}`;
      if (e.event === 'step_finished') l.finished.add(key);
      else if (e.event === 'step_completed' && l.finished.has(key)) el.classList.add('log-echo');
      frag.append(el);
    }
    l.box.append(frag);
    const extra = l.box.childElementCount - MAX_LOG_ENTRIES;
    if (extra > 0) {
      for (let k = 0; k < extra; k++) l.box.firstElementChild.remove();
      l.dropped += extra;
      l.note.hidden = false;
      l.note.textContent = `${l.dropped} older entries are not shown here (the page keeps the last ${MAX_LOG_ENTRIES}); ` +
        `\`awo logs ${this.id}\` prints them all.`;
    }
    if (l.follow.checked) this.scrollLog();
  }

  scrollLog() {
    const box = this.log.box;
    box.scrollTop = box.scrollHeight;
    this.log.lastTop = box.scrollTop;
  }

  // Scrolling up by hand stops following; the page's own scrolls only go
  // down, so they never untick the box.
  onLogScroll() {
    const l = this.log;
    const box = l.box;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 4;
    if (box.scrollTop < l.lastTop - 2 && !atBottom) l.follow.checked = false;
    l.lastTop = box.scrollTop;
  }

  applyLevel() {
    this.log.box.dataset.minLevel = this.log.level.value;
    if (this.log.follow.checked) this.scrollLog();
  }
}

// output renders a step's output as Markdown; should the renderer ever
// fail on some input, the output is still shown, as plain text.
function output(text) {
  try {
    return markdown(text);
  } catch {
    return h('pre', {}, text);
  }
}

// waiting: the work order runs, and its step waits until waiting_until.
function waiting(wo) {
  return wo.status === 'running' && !!wo.waiting_until;
}

function setAction(name, btn, reason) {
  btn.disabled = !!reason;
  if (reason) btn.title = reason;
  else btn.removeAttribute('title');
  document.getElementById(`action-${name}-reason`).textContent = reason;
}

function meta(label, value) {
  return h('span', {class: 'meta'}, h('span', {class: 'meta-label'}, label), ' ', value);
}

function fact(label, id, value) {
  return [h('dt', {}, label), h('dd', {id}, value === '' || value == null ? '—' : value)];
}

function facts(wo) {
  const pr = wo.github_pull_request_url;
  const prHref = pr && /^https?:\/\//i.test(pr) ? pr : '';
  const repo = wo.repository_url || '';
  const repoLink = /^https:\/\//i.test(repo) ? h('a', {href: repo, target: '_blank', rel: 'noopener', title: repo}, repoName(repo)) : repo;
  return [
    fact('Repository', 'wo-repository', repoLink),
    fact('Branch', 'wo-branch', wo.git_branch_name ? h('code', {}, wo.git_branch_name) : ''),
    fact('Base branch', 'wo-base', wo.base_branch || ''),
    fact('Current step', 'wo-phase', waiting(wo) ? 'waiting' : wo.current_phase || ''),
    fact('Progress', 'wo-progress', progress(wo)),
    fact('Agent', 'wo-agent', agentName(wo.agent)),
    fact('Cost', 'wo-cost', `${knownUSD(totalCost(wo))}${wo.max_cost_usd != null ? ` of ${usd(wo.max_cost_usd)} cap` : ''} · ${tokens(wo.input_tokens)} in / ${tokens(wo.output_tokens)} out tokens`),
    h('dt', {}, 'Pull request'),
    h('dd', {}, prHref ? h('a', {id: 'wo-pr', href: prHref, target: '_blank', rel: 'noopener'}, prHref)
      : pr ? h('span', {id: 'wo-pr'}, pr) : h('span', {class: 'muted'}, 'none yet')),
    fact('Issue', 'wo-issue', issue(wo)),
    fact('Sandbox', 'wo-sandbox', wo.sandbox_type || ''),
    fact('Created', 'wo-created', timeEl(wo.created_at)),
    fact('Updated', 'wo-updated', timeEl(wo.updated_at)),
  ];
}

// totalCost is what the work order's agent runs cost in all; null when
// unknown (an agent that reported tokens without a price for them).
function totalCost(wo) {
  return 'total_cost_usd' in wo ? wo.total_cost_usd : wo.cost_usd;
}

// knownUSD is usd(v), or "cost unknown" for a null cost.
function knownUSD(v) {
  return v === null ? 'cost unknown' : usd(v);
}

// agentName: the CLI that runs the work order's agent steps; a gateway
// that predates agents ran Claude Code.
function agentName(agent) {
  return {claude: 'Claude Code', codex: 'Codex', '': 'Claude Code'}[agent || ''] || agent;
}

// issue links to the GitHub issue when the repository is on github.com.
function issue(wo) {
  const n = wo.github_issue_number;
  if (!n) return '';
  const m = /^https:\/\/github\.com\/([^/]+\/[^/]+?)(?:\.git)?\/?$/.exec(wo.repository_url || '');
  return m ? h('a', {href: `https://github.com/${m[1]}/issues/${encodeURIComponent(n)}`, target: '_blank', rel: 'noopener'}, `#${n}`) : `#${n}`;
}

function timeEl(ts) {
  return ts ? h('time', {datetime: ts, title: age(ts)}, localTime(ts)) : '';
}

function gitFacts(git, wo) {
  const g = git || {git_commit_count: wo.git_commit_count, git_files_changed: wo.git_files_changed, git_branch_name: wo.git_branch_name};
  return [
    fact('Commits', 'git-commits', String(g.git_commit_count || 0)),
    fact('Files changed', 'git-files', String(g.git_files_changed || 0)),
    fact('Latest commit', 'git-latest', g.latest_commit_message ? h('span', {class: 'commit-msg'}, g.latest_commit_message) : ''),
    fact('Branch', 'git-branch', g.git_branch_name ? h('code', {}, g.git_branch_name) : ''),
  ];
}

// upcomingRows: the step running now, and the selected steps still to run
// in the first round (a follow-up round's steps are decided as it goes).
function upcomingRows(wo, steps) {
  if (wo.status === 'completed') return [];
  const rounds = steps.map((s) => s.round || 1);
  const round = rounds.length ? Math.max(...rounds) : 1;
  const done = new Set(steps.filter((s) => (s.round || 1) === round && s.success).map((s) => s.step));
  const out = [];
  // While the step waits, current_phase says why, not which step.
  const phase = waiting(wo) ? '' : wo.current_phase;
  const running = wo.status === 'running' && phase && !done.has(phase) ? phase : '';
  if (running) out.push(pendingRow(running, 'running', 'running…'));
  // A follow-up round's phases (follow-up, comment-pr) are not among the
  // selected steps; what is left of the first round's plan is not coming.
  const sel = wo.selected_commands || [];
  if (round === 1 && (!phase || sel.includes(phase))) {
    const ran = new Set(steps.map((s) => s.step));
    const ended = ENDED.includes(wo.status);
    // The step that waits is the first one that has not completed.
    let wait = waiting(wo);
    for (const s of sel) {
      if (ran.has(s) && done.has(s) || s === running) continue;
      if (wait) {
        out.push(pendingRow(s, 'waiting', 'waiting'));
        wait = false;
      } else if (!ran.has(s)) {
        out.push(pendingRow(s, ended ? 'not-run' : 'pending', ended ? 'not run' : 'pending'));
      }
    }
  }
  return out;
}

function pendingRow(step, state, label) {
  return h('li', {class: `step-pending ${state}`, dataset: {step, state}},
    h('div', {class: 'step-head'},
      h('span', {class: `step-state ${state}`}, label),
      h('strong', {class: 'step-name'}, step)));
}

// --- log entries ---

function logEntry(e, wo) {
  const level = e.level === 'warn' ? 'warning' : LEVELS.includes(e.level) ? e.level : 'info';
  const t = e.elapsed_seconds != null ? e.elapsed_seconds
    : wo && e.timestamp ? (Date.parse(e.timestamp) - Date.parse(wo.created_at)) / 1000 : 0;
  return h('div', {class: 'log-entry', dataset: {level, event: e.event || ''}},
    h('time', {class: 'log-time', datetime: e.timestamp || undefined, title: e.timestamp ? localTime(e.timestamp) : undefined}, `+${clock(t)}`),
    h('span', {class: 'log-level'}, level),
    h('span', {class: 'log-step'}, e.step || ''),
    h('span', {class: 'log-msg'}, logMessage(e)));
}

function logMessage(e) {
  switch (e.event) {
    case 'tool_call':
      return [h('span', {class: 'tool'}, e.tool || 'tool'), ' ',
        h('span', {class: 'tool-input', title: e.input_summary || ''}, e.input_summary || e.message || '')];
    case 'tool_result': {
      const text = e.message || '';
      const head = text.split('\n', 1)[0].slice(0, 120);
      return h('details', {class: 'tool-result'},
        h('summary', {}, e.is_error ? h('span', {class: 'tool-error'}, 'error ') : 'result ', h('span', {class: 'muted'}, head)),
        h('pre', {}, text));
    }
    case 'result': {
      const bits = [e.message || 'result'];
      if (e.cost_usd != null && !bits[0].includes('$')) bits.push(usd(e.cost_usd));
      if (e.num_turns) bits.push(`${e.num_turns} turns`);
      return bits.join(' · ');
    }
    default:
      return e.message || e.event || '';
  }
}
