// The health corner: /health's status, the Claude Code CLI in use (the
// first thing to check when no step runs), and, folded away, every
// dependency and the services registered on NATS. /health is an open
// route, so this needs no token. It is re-read every 30 s while the tab is
// visible and when the tab becomes visible again: a probe, not a data list.
import {h, replace} from './dom.js';
import {get} from './api.js';

const EVERY_MS = 30000;

export function mount(el) {
  let open = false;
  let timer = 0;
  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    clearTimeout(timer);
    // A refresh must not take the keyboard focus away from the corner.
    const focused = el.contains(document.activeElement);
    try {
      show(el, await get('/health'), open);
    } catch (err) {
      showUnreachable(el, err, open);
    } finally {
      busy = false;
    }
    // Keep the <details> as the person left it across refreshes.
    el.querySelector('details')?.addEventListener('toggle', (e) => { open = e.target.open; });
    if (focused) el.querySelector('summary')?.focus();
    if (document.visibilityState === 'visible') timer = setTimeout(refresh, EVERY_MS);
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refresh();
    else clearTimeout(timer);
  });
  refresh();
}

function show(el, hl, open) {
  const status = hl.status === 'healthy' ? 'healthy' : 'degraded';
  const claude = claudeLine((hl.dependencies || {}).claude_cli);
  replace(el, h('details', {class: 'health-details', open},
    h('summary', {title: `/health: ${status}; ${claude.title}`},
      h('span', {class: `dot ${status}`, dataset: {status}, 'aria-hidden': 'true'}),
      h('span', {class: 'health-status'}, status),
      h('span', {class: `health-claude${claude.ok ? '' : ' error'}`}, claude.text),
      spendLine(hl.spend)),
    panel(hl)));
}

function showUnreachable(el, err, open) {
  replace(el, h('details', {class: 'health-details', open},
    h('summary', {},
      h('span', {class: 'dot degraded', dataset: {status: 'unreachable'}, 'aria-hidden': 'true'}),
      h('span', {class: 'health-status'}, 'unreachable')),
    h('div', {class: 'health-panel'}, h('p', {class: 'error'}, `GET /health failed: ${err.message}`))));
}

// spendLine: today's spend of all work orders and the daily budget
// (/health's spend): "$1.20 of $50.00 today", or without a budget "$1.20
// today". Nothing when the gateway does not report it.
function spendLine(sp) {
  if (!sp || typeof sp !== 'object') return null;
  const day = sp.day ? ` (${sp.day}, UTC)` : '';
  const today = sp.today_usd == null ? 'spend unknown' : money(sp.today_usd);
  const budget = sp.daily_budget_usd == null ? '' : ` of ${money(sp.daily_budget_usd)}`;
  const over = sp.today_usd != null && sp.daily_budget_usd != null && sp.today_usd >= sp.daily_budget_usd;
  const title = `spent today${day}${sp.daily_budget_usd == null ? '; no daily budget (AWO_DAILY_BUDGET_USD)' : '; daily budget AWO_DAILY_BUDGET_USD'}` +
    `${sp.max_cost_usd == null ? '' : `; default cap per work order ${money(sp.max_cost_usd)}`}${sp.error ? `; ${sp.error}` : ''}`;
  return h('span', {id: 'health-spend', class: `health-spend${over ? ' error' : ''}`, title,
    dataset: {today: sp.today_usd == null ? '' : String(sp.today_usd), budget: sp.daily_budget_usd == null ? '' : String(sp.daily_budget_usd)}},
  `${today}${budget} today`);
}

function money(n) {
  return `$${Number(n).toFixed(2)}`;
}

// claudeLine: "Claude Code 2.1.3" from `claude --version` ("2.1.3 (Claude
// Code)"), or why it cannot be used.
function claudeLine(dep) {
  if (!dep) return {ok: false, text: 'Claude CLI unknown', title: 'the gateway did not report the Claude CLI'};
  const raw = dep.version ? String(dep.version) : '';
  const version = (/\d+\.\d+\.\d+\S*/.exec(raw) || [raw])[0];
  if (dep.available && version) return {ok: true, text: `Claude Code ${version}`, title: `Claude Code ${raw}`};
  if (version) return {ok: false, text: `Claude Code ${version} unusable`, title: dep.error || ''};
  return {ok: false, text: 'claude CLI missing', title: dep.error || 'claude CLI missing'};
}

function panel(hl) {
  const deps = Object.entries(hl.dependencies || {}).sort(([a], [b]) => a.localeCompare(b));
  const sections = [['database', hl.database], ['read_model', hl.read_model]].filter(([, v]) => v && Object.keys(v).length);
  const services = hl.services || [];
  return h('div', {class: 'health-panel'},
    h('table', {class: 'health-deps'},
      h('caption', {}, 'Dependencies'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'name'), h('th', {scope: 'col'}, 'state'), h('th', {scope: 'col'}, 'details'))),
      h('tbody', {}, [...deps, ...sections].map(([name, d]) => depRow(name, d)))),
    h('table', {class: 'health-services'},
      h('caption', {}, `Services on NATS (${services.length})`),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'service'), h('th', {scope: 'col'}, 'version'), h('th', {scope: 'col'}, 'id'))),
      h('tbody', {}, services.length
        ? services.map((s) => h('tr', {}, h('td', {}, s.name), h('td', {}, s.version), h('td', {class: 'mono'}, s.id)))
        : h('tr', {}, h('td', {colspan: '3', class: 'muted'}, 'none answered')))),
    h('p', {class: 'muted'},
      `storage ${hl.storage_type || '?'}${hl.version ? ` · awo ${hl.version}` : ''}`,
      hl.checked_at ? ` · checked ${new Date(hl.checked_at).toLocaleTimeString()}` : ''),
  );
}

// depRow: a dependency's ok flag is "available", "connected" (nats) or a
// status string (database); the other fields are shown as key: value.
function depRow(name, d) {
  let ok;
  if ('available' in d) ok = !!d.available;
  else if ('connected' in d) ok = !!d.connected;
  else if ('status' in d) ok = d.status === 'healthy';
  else if ('caught_up' in d) ok = !!d.caught_up;
  const state = ok === undefined ? '—' : ok ? 'ok' : 'unavailable';
  const rest = Object.entries(d)
    .filter(([k, v]) => !['available', 'connected'].includes(k) && v !== null && v !== undefined && v !== '')
    .map(([k, v]) => h('span', {class: `health-field${k === 'error' ? ' error' : ''}`}, `${k}: ${fieldText(v)}`));
  return h('tr', {dataset: {dep: name, ok: ok === undefined ? '' : String(ok)}},
    h('th', {scope: 'row'}, name),
    h('td', {class: ok === false ? 'error' : ''}, state),
    h('td', {}, rest));
}

// fieldText keeps nested objects (jetstream's streams) to one short line.
function fieldText(v) {
  if (typeof v !== 'object') return String(v);
  return Object.entries(v).map(([k, x]) => {
    if (x && typeof x === 'object') return 'messages' in x ? `${k} (${x.messages})` : k;
    return `${k}=${x}`;
  }).join(', ');
}
