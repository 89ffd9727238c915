// The JSON API, with the bearer token of this tab (sessionStorage: never in
// a URL, gone when the tab closes). A 401 asks for a token and tries again.

export const BASE = '/api/agent-work-orders';
const TOKEN_KEY = 'awo.token';

export class APIError extends Error {
  constructor(status, detail, body) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

let askToken = async () => { throw new APIError(401, 'a token is needed'); };
let asking = null;

// onUnauthorized sets what a 401 does: fn(detail) resolves once a new token
// is set. Concurrent 401s share one prompt.
export function onUnauthorized(fn) {
  askToken = fn;
}

export async function unauthorized(detail) {
  setToken('');
  if (!asking) asking = askToken(detail).finally(() => { asking = null; });
  return asking;
}

export function authHeaders(extra) {
  const hd = Object.assign({Accept: 'application/json'}, extra || {});
  const t = token();
  if (t) hd.Authorization = `Bearer ${t}`;
  return hd;
}

// request(method, path, body) → {status, headers, data}; path is below BASE
// unless it starts with "/". Non-2xx answers throw APIError with the API's
// detail (a string, or FastAPI-style [{loc, msg}] joined).
export async function request(method, path, body, {signal, headers} = {}) {
  const url = path.startsWith('/') ? path : `${BASE}/${path}`;
  for (;;) {
    const init = {method, headers: authHeaders(headers), signal};
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = text; }
    }
    if (res.status === 401 && !url.startsWith('/health')) {
      await unauthorized(detailOf(data));
      continue;
    }
    if (!res.ok) throw new APIError(res.status, detailOf(data) || res.statusText, data);
    return {status: res.status, headers: res.headers, data};
  }
}

export async function get(path, opts) {
  return (await request('GET', path, undefined, opts)).data;
}

export async function post(path, body, opts) {
  return (await request('POST', path, body, opts)).data;
}

function detailOf(data) {
  if (!data || typeof data !== 'object') return typeof data === 'string' ? data : '';
  const d = data.detail;
  if (Array.isArray(d)) return d.map((x) => (x && x.msg) || String(x)).join('; ');
  return d ? String(d) : '';
}
