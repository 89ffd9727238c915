// The dashboard's shell: a router over the History API (every view has a
// real URL that can be shared, reloaded and opened in a new tab), the token
// prompt, and the health corner. Views are modules under pages/ exporting
// render(view, params) → cleanup; the cleanup closes their streams.

import {onUnauthorized, setToken} from './api.js';

const routes = [
  {name: 'list', re: /^\/ui\/?$/, load: () => import('./pages/list.js')},
  {name: 'create', re: /^\/ui\/new\/?$/, load: () => import('./pages/create.js')},
  {name: 'detail', re: /^\/ui\/work-orders\/([^/]+)\/?$/, load: () => import('./pages/detail.js')},
  {name: 'repositories', re: /^\/ui\/repositories\/?$/, load: () => import('./pages/repositories.js')},
];

const view = document.getElementById('view');
let cleanup = () => {};
let generation = 0;

export function navigate(url, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  return show();
}

async function show() {
  const gen = ++generation;
  cleanup();
  cleanup = () => {};
  const path = location.pathname;
  const route = routes.find((r) => r.re.test(path));
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (route && a.dataset.nav === route.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!route) {
    view.replaceChildren(notFound(path));
    return;
  }
  const params = route.re.exec(path).slice(1).map(decodeURIComponent);
  const mod = await route.load();
  if (gen !== generation) return;
  view.replaceChildren();
  // Readiness is per view: the last view's must not count for this one.
  delete view.dataset.ready;
  delete document.body.dataset.view;
  const params2 = Object.fromEntries(new URLSearchParams(location.search));
  cleanup = mod.render(view, params, params2) || (() => {});
}

function notFound(path) {
  const p = document.createElement('p');
  p.textContent = `No page at ${path}. `;
  const a = document.createElement('a');
  a.href = '/ui/';
  a.textContent = 'Back to the work orders';
  p.append(a);
  return p;
}

// Same-origin links under /ui/ change the view without a reload; a click
// with a modifier (new tab) or on another path is left to the browser.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', show);

// The token prompt: a 401 from any request or stream opens it; the request
// is tried again with the token given.
const dialog = document.getElementById('token-dialog');
const input = document.getElementById('token-input');
const tokenError = document.getElementById('token-error');
onUnauthorized((detail) => new Promise((resolve) => {
  tokenError.textContent = detail && !/missing/i.test(detail) ? detail : '';
  input.value = '';
  const done = (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    setToken(t);
    dialog.close();
    dialog.removeEventListener('submit', done);
    resolve();
  };
  dialog.addEventListener('submit', done);
  // Escape must not leave the page without a way back to the prompt.
  dialog.addEventListener('cancel', (e) => e.preventDefault(), {once: true});
  if (!dialog.open) dialog.showModal();
  input.focus();
}));

import('./health.js').then((m) => m.mount(document.getElementById('health')));
show();
