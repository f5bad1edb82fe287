// #/events: mccd's events, newest first, live from the SSE stream; when the stream fails,
// GET /api/v1/events every 2 s, and try the stream again every 30 s.
import { get } from './api.js';
import { $, el, replace } from './dom.js';

const MAX = 500;
let events = []; // oldest first, as the API gives them
let source = null;
let pollTimer = null;
let retryTimer = null;
let running = false;

function text(e) {
  return typeof e.event === 'string' ? e.event : JSON.stringify(e.event);
}

// 2026-12-04 19:10:53 in the browser's time zone (the tooltip has the server's RFC 3339).
function localTime(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function item(e) {
  const t = Date.parse(e.time);
  const shown = Number.isNaN(t) ? String(e.time ?? '') : localTime(new Date(t));
  return el('li', {}, el('time', { datetime: e.time ?? '', title: e.time ?? '' }, shown), el('span', { class: 'event-text' }, text(e)));
}

function renderAll() {
  const newest = events.slice().reverse();
  replace($('#events-list'), newest.map(item));
  replace($('#dashboard-events'), newest.slice(0, 6).map(item));
  if (events.length === 0) replace($('#dashboard-events'), el('li', { class: 'muted' }, 'no events yet'));
}

function addOne(e) {
  events.push(e);
  const list = $('#events-list');
  list.prepend(item(e));
  // Over the limit the oldest goes, at the bottom.
  while (events.length > MAX) {
    events.shift();
    list.lastElementChild?.remove();
  }
  const d = $('#dashboard-events');
  if (d.firstElementChild?.classList.contains('muted')) d.replaceChildren();
  d.prepend(item(e));
  while (d.children.length > 6) d.lastElementChild.remove();
}

function status(mode) {
  const s = $('#events-status');
  s.textContent = mode;
  s.className = `badge ${mode === 'live' ? 'good' : 'warn'}`;
}

async function loadAll() {
  const list = await get('/api/v1/events');
  // Keep what the stream brought after the list was made (the two may cross).
  const key = (e) => `${e.time}\u0000${text(e)}`;
  const known = new Set(list.map(key));
  const last = list.length ? list[list.length - 1].time : '';
  const later = events.filter((e) => !known.has(key(e)) && String(e.time) >= String(last));
  const merged = list.concat(later).slice(-MAX);
  // The usual case: the same events and a few new ones, which are added on top (the items
  // on screen stay, as with the stream); else everything is drawn anew.
  const have = new Set(events.map(key));
  const fresh = merged.filter((e) => !have.has(key(e)));
  const newest = events.length ? String(events[events.length - 1].time) : '';
  if (fresh.every((e) => String(e.time) >= newest)) {
    for (const e of fresh) addOne(e);
  } else {
    events = merged;
    renderAll();
  }
}

function openStream() {
  closeStream();
  source = new EventSource('/api/v1/events/stream', { withCredentials: true });
  source.onopen = () => {
    status('live');
    stopPolling();
    // Fill what was missed while the stream was down.
    loadAll().catch(() => {});
  };
  source.onmessage = (m) => {
    try {
      addOne(JSON.parse(m.data));
    } catch {
      addOne({ time: new Date().toISOString(), event: m.data });
    }
  };
  source.onerror = () => {
    if (!running) return;
    closeStream();
    startPolling();
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => running && openStream(), 30000);
  };
}

function closeStream() {
  if (source) {
    source.onopen = source.onmessage = source.onerror = null;
    source.close();
  }
  source = null;
}

function startPolling() {
  if (pollTimer) return;
  status('polling');
  // Like the pages, a hidden tab does not poll (so an idle session can expire).
  const poll = () => document.hidden || loadAll().catch(() => {});
  poll();
  pollTimer = setInterval(poll, 2000);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

/** Logged in: load the history and follow the stream. */
export async function startEvents() {
  running = true;
  status('connecting');
  await loadAll().catch(() => {});
  if (running) openStream();
}

/** Logged out: stop and forget. */
export function stopEvents() {
  running = false;
  closeStream();
  stopPolling();
  clearTimeout(retryTimer);
  events = [];
  $('#events-list').replaceChildren();
  $('#dashboard-events').replaceChildren();
}
