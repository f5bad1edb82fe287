// #/nodes: every node this node knows (GET /api/v1/nodes, the rows of `mcc nodes`).
import { get } from './api.js';
import { $, el, idCell, ago, replace } from './dom.js';

const KIND_LABEL = { '': 'node', node: 'node', 'server-endpoint': 'server endpoint', 'client-endpoint': 'client endpoint' };

let lastKey = '';

export async function refreshNodes(ctx) {
  const rows = await get('/api/v1/nodes');
  ctx.nodes = rows;
  const self = ctx.node?.id;
  const body = $('#nodes-table tbody');
  // Unchanged rows stay (a selection in the table survives the refresh); only "ago" moves.
  const key = JSON.stringify([self, rows]);
  if (key === lastKey) {
    for (const td of body.querySelectorAll('td.seen')) td.textContent = ago(td.title);
    return rows;
  }
  lastKey = key;
  replace(
    body,
    rows.map((r) => {
      const kind = r.kind || 'node';
      return el(
        'tr',
        { dataset: { nodeId: r.node_id, kind, parentId: r.parent || undefined }, class: r.node_id === self ? 'self' : undefined },
        el('td', {}, idCell(r.node_id), r.node_id === self ? el('span', { class: 'tag self-tag' }, 'this node') : null),
        el('td', {}, el('span', { class: `kind kind-${kind}` }, KIND_LABEL[r.kind] ?? r.kind)),
        el('td', {}, r.address || '—'),
        el('td', { class: 'seen', title: r.last_seen || '' }, ago(r.last_seen)),
        el('td', {}, idCell(r.parent)),
        el('td', {}, tagList(r.tags)),
      );
    }),
  );
  if (rows.length === 0) replace(body, el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'no known nodes yet')));
  $('#nodes-count').textContent = `(${rows.length})`;
  applyFilter();
  return rows;
}

// Hides the rows whose ID, address, parent, tags and kind do not all contain the words typed.
function applyFilter() {
  const words = $('#nodes-filter').value.toLowerCase().split(/\s+/).filter((w) => w);
  let shown = 0;
  const rows = $('#nodes-table tbody').querySelectorAll('tr[data-node-id]');
  for (const tr of rows) {
    const hay = `${tr.dataset.nodeId} ${tr.dataset.parentId ?? ''} ${tr.textContent}`.toLowerCase();
    const ok = words.every((w) => hay.includes(w));
    tr.hidden = !ok;
    if (ok) shown++;
  }
  $('#nodes-count').textContent = words.length ? `(${shown} of ${rows.length})` : `(${rows.length})`;
}

export function installNodes() {
  $('#nodes-filter').addEventListener('input', applyFilter);
}

export function tagList(tags) {
  const list = (Array.isArray(tags) ? tags : String(tags ?? '').split(','))
    .map((t) => String(t).trim())
    .filter((t) => t);
  if (list.length === 0) return el('span', { class: 'muted' }, '—');
  return list.map((t) => el('span', { class: 'tag' }, t));
}

/** Logged out: forget the table. */
export function resetNodes() {
  $('#nodes-filter').value = '';
  lastKey = '';
  $('#nodes-table tbody').replaceChildren();
}
