// mcc-web's single page: login, then hash routes #/dashboard, #/nodes, #/topology,
// #/tunnels, #/events. The visible page is refreshed every 5 s; events arrive live.
import { get, post, setCsrfToken, setLoginRequiredHandler } from './api.js';
import { $, installCopy } from './dom.js';
import { showLogin } from './login.js';
import { refreshDashboard, installDashboard, updateHeader } from './dashboard.js';
import { refreshNodes, resetNodes, installNodes } from './nodes.js';
import { refreshTopology, topologyShown, resetTopology } from './topology.js';
import { refreshTunnels, installTunnels, sessionChanged, resetTunnels } from './tunnels.js';
import { startEvents, stopEvents } from './events.js';

const REFRESH_MS = 5000;
const PAGES = ['dashboard', 'nodes', 'topology', 'tunnels', 'events'];

// What the pages share: the session, this node, the known nodes.
const ctx = { session: null, node: null, nodes: null };
let timer = null;
let loggedIn = false;
let running = null; // the refresh under way
let queued = null; // the one to run after it

function currentPage() {
  const p = location.hash.replace(/^#\/?/, '');
  return PAGES.includes(p) ? p : 'dashboard';
}

function pageError(text) {
  const e = $('#page-error');
  e.textContent = text ?? '';
  e.hidden = !text;
}

/** Refreshes the current page; resolves once a refresh that started after the call is done. */
function refresh() {
  if (!running) {
    running = refreshNow().finally(() => (running = null));
    return running;
  }
  // A page change or a form while a refresh runs: one more after it (not one per call).
  if (!queued) queued = running.then(() => ((queued = null), refresh()));
  return queued;
}

async function refreshNow() {
  // A tab in the background asks nothing (the session's idle timeout can then run out).
  if (!loggedIn || document.hidden) return;
  const page = currentPage();
  try {
    // The header and the others need this node; the dashboard fetches it itself.
    if (page === 'dashboard') await refreshDashboard(ctx);
    else {
      ctx.node = await get('/api/v1/node');
      updateHeader(ctx.node);
    }
    if (page === 'nodes') await refreshNodes(ctx);
    if (page === 'topology') await refreshTopology(ctx);
    if (page === 'tunnels') {
      await refreshNodes(ctx);
      await refreshTunnels(ctx);
    }
    pageError('');
    $('#refresh-status').textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
  } catch (e) {
    if (loggedIn) pageError(e.message);
  }
}

function reveal(page) {
  for (const p of PAGES) $(`#${p}`).hidden = p !== page;
}

async function showPage() {
  const page = currentPage();
  for (const p of PAGES) {
    $(`#nav-${p}`).classList.toggle('active', p === page);
    if (p === page) $(`#nav-${p}`).setAttribute('aria-current', 'page');
    else $(`#nav-${p}`).removeAttribute('aria-current');
  }
  document.title = `mcc-web · ${page}`;
  if (page === 'topology') {
    // cytoscape measures its container: it must be visible before the graph is laid out.
    reveal(page);
    topologyShown();
    await refresh();
    return;
  }
  // The others appear with their data, not empty first (and a test seeing the section
  // visible sees its rows).
  await refresh();
  if (loggedIn && currentPage() === page) reveal(page);
}

function enter(session) {
  ctx.session = session;
  loggedIn = true;
  setCsrfToken(session.csrf_token);
  $('#whoami').textContent = session.user;
  $('#login').hidden = true;
  $('#loading').hidden = true;
  $('#app').hidden = false;
  sessionChanged(ctx);
  if (!location.hash) history.replaceState(null, '', '#/dashboard');
  showPage();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
  startEvents();
}

function leave(message) {
  loggedIn = false;
  clearInterval(timer);
  stopEvents();
  resetTopology();
  resetTunnels();
  resetNodes();
  ctx.session = ctx.node = ctx.nodes = null;
  setCsrfToken(null);
  $('#loading').hidden = true;
  pageError('');
  reveal(null);
  showLogin(message, async (answer) => {
    // The login answer has the user and token; the session has the rest.
    try {
      enter(await get('/api/v1/session'));
    } catch (e) {
      enter({ user: answer.user, csrf_token: answer.csrf_token, network_key_configured: false });
      pageError(e.message);
    }
  });
}

async function start() {
  installCopy();
  installDashboard();
  installNodes();
  installTunnels(ctx, refresh);
  setLoginRequiredHandler(() => {
    if (loggedIn) leave('session expired: log in again');
  });
  window.addEventListener('hashchange', () => loggedIn && showPage());
  document.addEventListener('visibilitychange', () => !document.hidden && refresh());
  $('#logout').addEventListener('click', async () => {
    // Stop the refreshes first: one answering 401 after the logout is no news.
    loggedIn = false;
    clearInterval(timer);
    stopEvents();
    try {
      await post('/api/v1/logout');
    } catch {
      // Logged out either way: the session is forgotten here.
    }
    leave('');
  });
  try {
    enter(await get('/api/v1/session'));
  } catch (e) {
    leave(e.status === 401 ? '' : e.message);
  }
}

start();
