// The work-order list: newest first, filtered by status and repository (the
// filters live in the URL so a filtered list can be shared and reloaded),
// paged, and kept current by one SSE feed of work-order events — no polling.
import {h, replace} from '../dom.js';
import {BASE, request, get} from '../api.js';
import {stream} from '../sse.js';
import * as fmt from '../format.js';
import {progress} from '../steps.js';

const PAGE = 100;
const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'];
const OFFLINE_HELP = 'https://github.com/agentworkorders/awo#try-it-offline';
// Events for one work order that arrive within this window cost one read.
const BATCH_MS = 100;
const READERS = 4;
// The read model may not have applied an event yet when the feed delivers
// it (other processes write the stream); a read older than the event is
// tried again this many times, with growing pauses.
const STALE_TRIES = 5;
// The list is read once the feed is open (so nothing happening in between
// is missed), but a feed that cannot open must not hold the list back.
const FEED_WAIT_MS = 2000;
const AGE_TICK_MS = 30000;
// The events after which a work order's status may differ.
const STATUS_CHANGES = /\.workorder\.(started|completed|failed|cancelled|retry_requested|follow_up_requested)\./;

export function render(view, _params, query) {
  const page = new ListPage(view, query || {});
  return () => page.close();
}

class ListPage {
  constructor(view, query) {
    this.view = view;
    this.filters = {status: query.status || '', repository_url: query.repository_url || ''};
    this.rows = new Map(); // id → {wo, tr, age}
    this.total = 0;
    this.loaded = false;
    this.gen = 0;
    this.pending = new Map(); // id → time (ms) of its newest event not yet read
    this.inflight = new Set();
    this.queue = [];
    this.readers = 0;
    this.repos = new Set();
    this.ctl = new AbortController();
    this.dead = false;
    this.firstRender = true;

    this.ui = skeleton(this.filters, {
      onFilter: () => this.changeFilters(),
      onMore: () => this.loadMore(),
    });
    view.append(this.ui.root);
    this.addRepo(this.filters.repository_url);

    const feedOpen = this.openFeed();
    this.ages = setInterval(() => this.refreshAges(), AGE_TICK_MS);
    // The configured repositories only add filter choices: read them after
    // the list, not competing with it.
    feedOpen.then(() => this.load()).then(() => this.loadRepositories());
  }

  close() {
    this.dead = true;
    this.closeFeed();
    this.ctl.abort();
    clearInterval(this.ages);
    clearTimeout(this.batchTimer);
    clearTimeout(this.countTimer);
    delete this.view.dataset.ready;
  }

  // openFeed starts the event feed and resolves once it is open, has
  // failed, or has taken too long.
  openFeed() {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, FEED_WAIT_MS);
      this.closeFeed = stream(`${BASE}/events?from=now`, {
        onEvent: (ev) => this.onEvent(ev),
        onState: (state, msg) => {
          this.setLive(state, msg);
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  setLive(state, msg) {
    const el = this.ui.live;
    el.dataset.state = state;
    el.title = msg || '';
    el.textContent = {open: 'live', reconnecting: 'reconnecting…', failed: 'live updates stopped'}[state] || state;
    if (state === 'failed' && msg) el.textContent += `: ${msg}`;
  }

  async load() {
    const gen = ++this.gen;
    this.loaded = false;
    this.clearError();
    this.ui.more.disabled = true;
    try {
      const res = await request('GET', `?${this.query(0)}`, undefined, {signal: this.ctl.signal});
      if (this.dead || gen !== this.gen) return;
      this.rows.clear();
      this.total = totalOf(res, res.data.length);
      replace(this.ui.tbody, this.fragment(res.data));
      this.loaded = true;
      this.renderMeta();
      this.markReady();
      this.schedule();
    } catch (err) {
      if (this.dead || gen !== this.gen) return;
      this.showError('Could not read the work orders', err, () => this.load());
    }
  }

  async loadMore() {
    const gen = this.gen;
    this.clearError();
    this.ui.more.disabled = true;
    try {
      const res = await request('GET', `?${this.query(this.rows.size)}`, undefined, {signal: this.ctl.signal});
      if (this.dead || gen !== this.gen) return;
      this.total = totalOf(res, this.total);
      // Rows that arrived live meanwhile shift the offsets: skip those already shown.
      this.ui.tbody.append(this.fragment(res.data.filter((wo) => !this.rows.has(wo.agent_work_order_id))));
      this.renderMeta();
    } catch (err) {
      if (this.dead || gen !== this.gen) return;
      this.showError('Could not read more work orders', err, () => this.loadMore());
      this.renderMeta();
    }
  }

  query(offset) {
    const q = new URLSearchParams({limit: String(PAGE)});
    if (offset) q.set('offset', String(offset));
    for (const [k, v] of Object.entries(this.filters)) if (v) q.set(k, v);
    return q.toString();
  }

  fragment(list) {
    const frag = document.createDocumentFragment();
    for (const wo of list) {
      const entry = buildRow(wo);
      this.rows.set(wo.agent_work_order_id, entry);
      this.addRepo(wo.repository_url);
      frag.append(entry.tr);
    }
    return frag;
  }

  markReady() {
    if (!this.firstRender) return;
    this.firstRender = false;
    performance.mark('awo:list-rendered');
    this.view.dataset.ready = 'true';
    document.body.dataset.view = 'list';
  }

  changeFilters() {
    this.filters.status = this.ui.status.value;
    this.filters.repository_url = this.ui.repo.value;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(this.filters)) if (v) q.set(k, v);
    const s = q.toString();
    history.replaceState(null, '', location.pathname + (s ? `?${s}` : ''));
    this.load();
  }

  // --- live updates ---

  onEvent(ev) {
    const ce = ev.data;
    if (!ce || typeof ce !== 'object' || !ce.subject) return;
    if (!this.rows.has(ce.subject) && !this.couldAppear(String(ce.type || ''))) return;
    // The newest event's time, not the greatest: a row's updated_at is the
    // time of the last event folded into it, whatever the clocks said.
    this.pending.set(ce.subject, Date.parse(ce.time) || 0);
    this.schedule();
  }

  // couldAppear tells whether an event of a work order not on the page can
  // bring it onto the page: a new one, or a change of status when the list
  // is filtered by status. Anything else (the steps of a work order further
  // down than the pages read) costs no read: a busy system's feed would
  // otherwise re-read every running work order one by one.
  couldAppear(type) {
    if (/\.workorder\.requested\./.test(type)) return true;
    return Boolean(this.filters.status) && STATUS_CHANGES.test(type);
  }

  // schedule reads what the feed named once the list itself has been read
  // (until then events wait: the list read will already include them, or
  // they come after it and are read then).
  schedule() {
    if (!this.loaded || this.batchTimer || !this.pending.size || this.dead) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = null;
      this.flush();
    }, BATCH_MS);
  }

  flush() {
    for (const [id, t] of this.pending) {
      if (this.inflight.has(id)) continue; // read again when that read is done
      this.pending.delete(id);
      this.inflight.add(id);
      this.queue.push([id, t]);
    }
    while (this.readers < READERS && this.queue.length) this.reader();
  }

  async reader() {
    this.readers++;
    while (this.queue.length && !this.dead) {
      const [id, t] = this.queue.shift();
      try {
        await this.readOne(id, t);
      } finally {
        this.inflight.delete(id);
      }
    }
    this.readers--;
    this.schedule();
  }

  async readOne(id, t) {
    for (let attempt = 0; ; attempt++) {
      let wo;
      try {
        wo = await get(encodeURIComponent(id), {signal: this.ctl.signal});
      } catch (err) {
        if (this.dead) return;
        // A 404 for a work order the feed just named is the read model
        // not having it yet; only a lasting one means it is gone.
        if (attempt >= STALE_TRIES) return err.status === 404 ? this.remove(id) : undefined;
        await sleep((err.status === 404 ? 100 : 250) * 2 ** attempt);
        continue;
      }
      if (this.dead) return;
      const stale = t && Date.parse(wo.updated_at) < t;
      if (stale && attempt < STALE_TRIES) {
        await sleep(100 * 2 ** attempt);
        continue;
      }
      if (!this.loaded) {
        // The filters changed meanwhile: read it again against the new list.
        if (!this.pending.has(id)) this.pending.set(id, t);
        return;
      }
      return this.apply(wo);
    }
  }

  apply(wo) {
    const id = wo.agent_work_order_id;
    const have = this.rows.get(id);
    const fits = this.matches(wo);
    this.addRepo(wo.repository_url);
    if (have && fits) {
      const entry = buildRow(wo, true);
      // A keyboard user on this row's link keeps their place.
      const active = document.activeElement;
      const col = have.tr.contains(active) && active.closest('[data-col]')?.dataset.col;
      have.tr.replaceWith(entry.tr);
      this.rows.set(id, entry);
      if (col) entry.tr.querySelector(`[data-col="${col}"] a`)?.focus();
    } else if (have) {
      this.remove(id);
      return;
    } else {
      if (fits && this.belongsOnPage(wo)) this.insert(buildRow(wo, true));
      // Whether a work order not shown before changes the total (new, or
      // an older one entering or leaving the status filter) only the
      // store can say.
      if (fits || this.filters.status) this.recount();
    }
    this.renderMeta();
  }

  // belongsOnPage: a work order not shown goes in when it is newer than
  // the oldest row shown, or when every matching one is shown already.
  belongsOnPage(wo) {
    if (this.rows.size >= this.total) return true;
    const last = this.ui.tbody.lastElementChild;
    const oldest = last && this.rows.get(last.dataset.id);
    // Compared as times: the API's fractional seconds vary in length.
    return !oldest || Date.parse(wo.created_at) >= Date.parse(oldest.wo.created_at);
  }

  insert(entry) {
    const id = entry.wo.agent_work_order_id;
    const at = Date.parse(entry.wo.created_at);
    let before = null;
    for (const tr of this.ui.tbody.children) {
      const other = this.rows.get(tr.dataset.id);
      if (other && Date.parse(other.wo.created_at) < at) {
        before = tr;
        break;
      }
    }
    this.ui.tbody.insertBefore(entry.tr, before);
    this.rows.set(id, entry);
    this.total = Math.max(this.total, this.rows.size);
  }

  remove(id) {
    const have = this.rows.get(id);
    if (!have) return;
    have.tr.remove();
    this.rows.delete(id);
    this.total = Math.max(this.rows.size, this.total - 1);
    this.renderMeta();
  }

  matches(wo) {
    const f = this.filters;
    return (!f.status || wo.status === f.status) && (!f.repository_url || wo.repository_url === f.repository_url);
  }

  // recount asks the store for the filtered total, once per burst; a
  // store still catching up (503 after a restart) is asked again.
  recount(attempt = 0) {
    clearTimeout(this.countTimer);
    this.countTimer = setTimeout(async () => {
      const gen = this.gen;
      try {
        const q = new URLSearchParams(this.query(0));
        q.set('limit', '1');
        const res = await request('GET', `?${q}`, undefined, {signal: this.ctl.signal});
        if (this.dead || gen !== this.gen) return;
        this.total = Math.max(this.rows.size, totalOf(res, this.total));
        this.renderMeta();
      } catch {
        if (!this.dead && gen === this.gen && attempt < STALE_TRIES) this.recount(attempt + 1);
      }
    }, attempt ? 250 * 2 ** attempt : BATCH_MS);
  }

  refreshAges() {
    const now = Date.now();
    for (const {wo, age} of this.rows.values()) age.textContent = fmt.age(wo.created_at, now);
  }

  // --- chrome around the rows ---

  renderMeta() {
    const {ui} = this;
    const n = this.rows.size;
    const filtered = Boolean(this.filters.status || this.filters.repository_url);
    ui.count.textContent = `${number(n)} of ${number(this.total)} work order${this.total === 1 ? '' : 's'}`;
    ui.more.hidden = n >= this.total;
    ui.more.disabled = false;
    ui.tableWrap.hidden = n === 0;
    ui.empty.hidden = !(n === 0 && !filtered && this.total === 0);
    ui.noMatch.hidden = !(n === 0 && filtered);
  }

  showError(what, err, retry) {
    const detail = err && (err.detail || err.message) ? (err.detail || err.message) : String(err);
    const code = err && err.status ? ` (HTTP ${err.status})` : '';
    const hint = err && err.status === 503 ? ' The gateway is catching up or a dependency is down; try again in a moment.' : '';
    replace(this.ui.error,
      h('p', {}, `${what}: `, h('span', {class: 'detail'}, detail), code, hint),
      h('button', {type: 'button', id: 'list-retry', onclick: () => retry()}, 'Retry'));
    this.ui.error.hidden = false;
  }

  clearError() {
    this.ui.error.hidden = true;
    this.ui.error.replaceChildren();
  }

  async loadRepositories() {
    try {
      const list = await get('repositories', {signal: this.ctl.signal});
      if (this.dead || !Array.isArray(list)) return;
      for (const r of list) this.addRepo(r.repository_url);
    } catch {
      // No configured repositories (or no such route): the filter offers
      // the repositories seen in the list.
    }
  }

  // addRepo adds a repository to the filter's choices, sorted by name.
  addRepo(url) {
    if (!url || this.repos.has(url)) return;
    this.repos.add(url);
    const sel = this.ui.repo;
    const opt = h('option', {value: url, title: url}, fmt.repoName(url));
    const name = fmt.repoName(url);
    const after = [...sel.options].slice(1).find((o) => o.textContent.localeCompare(name) > 0);
    sel.insertBefore(opt, after || null);
    sel.value = this.filters.repository_url;
  }
}

// --- building the DOM ---

function skeleton(filters, {onFilter, onMore}) {
  const status = h('select', {id: 'filter-status', onchange: onFilter},
    h('option', {value: ''}, 'all'),
    STATUSES.map((s) => h('option', {value: s}, s)));
  status.value = STATUSES.includes(filters.status) ? filters.status : '';
  if (filters.status && !status.value) {
    // An unknown status from a hand-edited URL: keep it so the API names the problem.
    status.append(h('option', {value: filters.status}, filters.status));
    status.value = filters.status;
  }
  const repo = h('select', {id: 'filter-repo', onchange: onFilter}, h('option', {value: ''}, 'all'));
  const live = h('span', {id: 'live-state', class: 'live-state', dataset: {state: 'connecting'}, 'aria-live': 'polite'}, 'connecting…');
  const count = h('p', {id: 'list-count', class: 'muted', 'aria-live': 'polite'});
  const error = h('div', {id: 'list-error', class: 'list-error', role: 'alert', hidden: true});
  const tbody = h('tbody');
  const tableWrap = h('div', {class: 'table-wrap', hidden: true},
    h('table', {id: 'work-orders', class: 'work-orders'},
      h('caption', {class: 'visually-hidden'}, 'Work orders, newest first'),
      h('thead', {}, h('tr', {}, COLUMNS.map(([col, label, cls]) => h('th', {scope: 'col', class: cls, dataset: {col}}, label)))),
      tbody));
  const more = h('button', {type: 'button', id: 'load-more', hidden: true, onclick: onMore}, 'Load more');
  const noMatch = h('p', {id: 'no-match', class: 'muted', hidden: true}, 'No work order matches these filters. ',
    h('a', {href: '/ui/'}, 'Show all work orders'));
  const empty = emptyState();
  const root = h('section', {class: 'list-view', 'aria-labelledby': 'list-title'},
    h('div', {class: 'list-head'},
      h('h1', {id: 'list-title'}, 'Work orders'),
      live,
      h('a', {class: 'button primary', href: '/ui/new'}, 'New work order')),
    h('div', {class: 'filters'},
      h('span', {class: 'filter'}, h('label', {for: 'filter-status'}, 'Status'), status),
      h('span', {class: 'filter'}, h('label', {for: 'filter-repo'}, 'Repository'), repo),
      count),
    error, empty, noMatch, tableWrap,
    h('div', {class: 'list-foot'}, more));
  return {root, status, repo, live, count, error, tbody, tableWrap, more, noMatch, empty};
}

// [data-col, heading, class]: the less important columns give way on a phone.
const COLUMNS = [
  ['status', 'Status', ''],
  ['repository', 'Repository', 'hide-narrow'],
  ['request', 'Request', ''],
  ['step', 'Step', 'hide-narrow'],
  ['progress', 'Progress', 'num'],
  ['branch', 'Branch', 'hide-narrow'],
  ['pr', 'PR', ''],
  ['cost', 'Cost', 'hide-narrow num'],
  ['age', 'Age', 'num'],
];

function emptyState() {
  return h('div', {id: 'empty-state', class: 'empty-state', hidden: true},
    h('h2', {}, 'No work orders yet'),
    h('p', {}, 'A work order turns a request into a pull request. For a real run the server needs:'),
    h('ul', {},
      h('li', {}, h('code', {}, 'ANTHROPIC_API_KEY'), ' set, or a ', h('code', {}, 'claude'), ' CLI that is logged in, for the agent;'),
      h('li', {}, h('code', {}, 'gh auth login'), ' (or ', h('code', {}, 'GH_TOKEN'), ') to open the pull request.')),
    h('p', {}, 'No key or GitHub account at hand? ', h('a', {href: OFFLINE_HELP, rel: 'noopener'}, 'Try it offline'),
      ': git can point a GitHub URL at a local repository, and awo runs its normal path against it.'),
    h('p', {class: 'actions'}, h('a', {class: 'button primary', href: '/ui/new'}, 'Create a work order')));
}

// buildRow renders one work order; fresh marks a row that changed live.
function buildRow(wo, fresh = false) {
  const id = wo.agent_work_order_id;
  const pr = wo.github_pull_request_url;
  const age = h('td', {class: 'num', dataset: {col: 'age'}, title: fmt.localTime(wo.created_at)}, fmt.age(wo.created_at));
  const tr = h('tr', {class: fresh ? 'fresh' : undefined, dataset: {id, status: wo.status}},
    h('td', {dataset: {col: 'status'}}, h('span', {class: 'status', dataset: {status: wo.status}}, wo.status)),
    h('td', {class: 'hide-narrow repo', dataset: {col: 'repository'}, title: wo.repository_url}, fmt.repoName(wo.repository_url)),
    h('td', {class: 'request', dataset: {col: 'request'}},
      h('a', {href: `/ui/work-orders/${encodeURIComponent(id)}`, title: `${id}: ${fmt.firstLine(wo.user_request, 300)}`}, fmt.firstLine(wo.user_request) || id)),
    // While the step waits, current_phase says why: the cell says waiting, the tooltip why.
    wo.status === 'running' && wo.waiting_until
      ? h('td', {class: 'hide-narrow', dataset: {col: 'step', waiting: 'true'}, title: wo.current_phase || undefined}, 'waiting')
      : h('td', {class: 'hide-narrow', dataset: {col: 'step'}}, wo.current_phase || '—'),
    h('td', {class: 'num', dataset: {col: 'progress'}}, progress(wo)),
    h('td', {class: 'hide-narrow mono branch', dataset: {col: 'branch'}, title: wo.git_branch_name || undefined}, wo.git_branch_name || '—'),
    h('td', {dataset: {col: 'pr'}}, pr ? h('a', {href: pr, rel: 'noopener', title: pr}, prLabel(pr)) : ''),
    h('td', {class: 'hide-narrow num', dataset: {col: 'cost'}}, fmt.cost(wo.cost_usd)),
    age);
  return {wo, tr, age};
}

function prLabel(url) {
  const m = /\/pull\/(\d+)/.exec(url);
  return m ? `#${m[1]}` : 'PR';
}

function totalOf(res, fallback) {
  const n = parseInt(res.headers.get('X-Total-Count'), 10);
  return Number.isFinite(n) ? n : fallback;
}

const numberFormat = new Intl.NumberFormat('en');
function number(n) {
  return numberFormat.format(n);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
