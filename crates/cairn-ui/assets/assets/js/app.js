// The application shell: a client-side router over path URLs, link interception and global keys.
//
// Pages are modules exporting mount(root, ctx) -> {unmount?, onKey?}. ctx = {params, query,
// navigate}. The server answers every page URL with index.html (see cairn-ui's fallback rule), so
// reloading or sharing any URL works. Legacy hash URLs (#/runs/…) are rewritten to paths.

import * as agents from './agents.js';
import * as audit from './audit.js';
import * as conversations from './conversations.js';
import { h, isTyping, replace } from './dom.js';
import * as run from './run.js';
import * as traces from './traces.js';

// [path pattern, page module, highlighted nav entry, page name (the root's data-page)]
const ROUTES = [
  [/^\/traces\/?$/, traces, 'traces', 'traces'],
  [/^\/runs\/([^/]+)\/?$/, run, 'traces', 'run'],
  [/^\/conversations\/?$/, conversations, 'conversations', 'conversations'],
  [/^\/conversations\/([^/]+)\/?$/, conversations, 'conversations', 'conversation'],
  [/^\/agents\/?$/, agents, 'agents', 'agents'],
  [/^\/audit\/?$/, audit, 'audit', 'audit'],
];

const root = document.getElementById('app');
let current = null;

function navigate(to, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  render();
}

function notFound(path) {
  replace(root, h('header.page-head', null, h('h1', null, 'Not found')),
    h('p', null, `Nothing lives at ${path}. `, h('a', { href: '/traces' }, 'Go to traces')));
  return {};
}

function render() {
  if (location.hash.startsWith('#/')) {
    history.replaceState(null, '', location.hash.slice(1));
  }
  const path = location.pathname;
  if (path === '/' || path === '/index.html') {
    history.replaceState(null, '', `/traces${location.search}`);
    return render();
  }
  try {
    current?.unmount?.();
  } catch (err) {
    console.warn('unmount failed', err);
  }
  current = null;
  const query = new URLSearchParams(location.search);
  for (const [pattern, page, nav, name] of ROUTES) {
    const m = pattern.exec(path);
    if (!m) continue;
    let params;
    try {
      params = m.slice(1).map(decodeURIComponent);
    } catch {
      current = notFound(path);
      return;
    }
    for (const a of document.querySelectorAll('nav.main-nav a')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    for (const a of ['data-render-ms', 'data-total-ms', 'data-render-phases', 'data-render-spans']) root.removeAttribute(a);
    root.dataset.page = name;
    current = page.mount(root, { params, query, navigate }) ?? {};
    document.title = `${document.querySelector('#app h1')?.textContent ?? 'Cairn'} · Cairn`;
    return;
  }
  current = notFound(path);
}

// Same-origin links are handled by the router; modified clicks and downloads keep browser behaviour.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith('/api/') || u.pathname.startsWith('/assets/')) return;
  e.preventDefault();
  navigate(u.pathname + u.search);
});

window.addEventListener('popstate', render);

const help = document.getElementById('help');

document.addEventListener('keydown', (e) => {
  if (e.metaKey || e.ctrlKey || e.altKey || help.open) return;
  if (e.key === 'Escape' && isTyping(e)) {
    e.target.blur();
    return;
  }
  if (isTyping(e)) return;
  if (e.key === '/') {
    const search = root.querySelector('[data-search]');
    if (search) {
      e.preventDefault();
      search.focus();
      search.select?.();
    }
    return;
  }
  if (e.key === '?') {
    help.showModal();
    return;
  }
  // Enter and Space on a control belong to that control (a sort header, a download button), not
  // to the page's list navigation.
  if ((e.key === 'Enter' || e.key === ' ') && e.target instanceof Element && e.target.closest('button, a[href], summary, select')) return;
  if (current?.onKey?.(e)) e.preventDefault();
});

render();
