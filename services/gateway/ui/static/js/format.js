// Small, pure formatting helpers shared by the views.

export function firstLine(s, max = 120) {
  const line = String(s || '').split('\n', 1)[0].trim();
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

// repoName: "https://github.com/acme/app(.git)" → "acme/app"; anything else as given.
export function repoName(url) {
  const m = /^(?:https?:\/\/[^/]+\/|ssh:\/\/[^/]+\/|git@[^:]+:)([^/]+\/[^/]+?)(?:\.git)?\/?$/.exec(String(url || ''));
  return m ? m[1] : String(url || '');
}

export function cost(usd) {
  const n = Number(usd || 0);
  if (!n) return '—';
  return n < 0.01 ? '<$0.01' : `$${n.toFixed(2)}`;
}

export function duration(seconds) {
  const s = Math.max(0, Number(seconds || 0));
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

// age: "12 s ago", "3 min ago", "2 h ago", "4 d ago".
export function age(ts, now = Date.now()) {
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function tokens(n) {
  const v = Number(n || 0);
  return v >= 10000 ? `${(v / 1000).toFixed(1)}k` : String(v);
}

export function localTime(ts) {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

// clock: seconds since a start as "m:ss" or "h:mm:ss", for log lines.
export function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds || 0)));
  const pad = (n) => String(n).padStart(2, '0');
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  return hh ? `${hh}:${pad(mm)}:${pad(s % 60)}` : `${mm}:${pad(s % 60)}`;
}

// usd: a cost to the cent, or to four places when under a cent (a step's
// cost often is), so small costs still add up on the page.
export function usd(v) {
  const n = Number(v || 0);
  if (!n) return '$0';
  return n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`;
}
