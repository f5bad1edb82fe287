// #/topology: the network as a graph (cytoscape). Parents above children (a tidy tree over
// the parent and endpoint edges, see treelayout.js); tunnel edges are drawn but do not
// shape the layout. The layout is only redone when the
// set of nodes or edges changes, so a 5 s refresh does not move what the user looks at.
import { get } from './api.js';
import { $, shortId } from './dom.js';
import { treeLayout } from './treelayout.js';

let cy = null;
let lastShape = '';
let lastData = '';

const COLORS = {
  node: '#2563eb',
  self: '#dc2626',
  'server-endpoint': '#ea580c',
  'client-endpoint': '#16a34a',
  parent: '#475569',
  tunnel: '#7c3aed',
  endpoint: '#94a3b8',
};

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'text-wrap': 'wrap',
      // Labels to the right: the tree's edges run up and down, so they never cross one.
      'text-valign': 'center',
      'text-halign': 'right',
      'text-justification': 'left',
      'text-margin-x': 6,
      'font-size': 11,
      'font-family': 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
      color: '#1e293b',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.85,
      'text-background-padding': 2,
      width: 30,
      height: 30,
      'background-color': COLORS.node,
      'border-width': 2,
      'border-color': '#ffffff',
    },
  },
  { selector: 'node[kind = "server-endpoint"]', style: { shape: 'diamond', 'background-color': COLORS['server-endpoint'], width: 24, height: 24 } },
  { selector: 'node[kind = "client-endpoint"]', style: { shape: 'triangle', 'background-color': COLORS['client-endpoint'], width: 24, height: 22 } },
  { selector: 'node[?isSelf]', style: { 'background-color': COLORS.self, 'border-color': '#7f1d1d', 'border-width': 4, width: 40, height: 40, 'font-weight': 'bold' } },
  { selector: 'node:selected', style: { 'overlay-color': '#2563eb', 'overlay-opacity': 0.2, 'overlay-padding': 6 } },
  {
    selector: 'edge',
    style: { width: 2, 'curve-style': 'bezier', 'line-color': COLORS.parent, 'target-arrow-color': COLORS.parent, 'target-arrow-shape': 'triangle', 'arrow-scale': 0.8 },
  },
  // Tunnels bow out: a straight line would run along the tree's edges and through nodes.
  {
    selector: 'edge[kind = "tunnel"]',
    style: {
      'line-style': 'dashed',
      'line-color': COLORS.tunnel,
      'target-arrow-color': COLORS.tunnel,
      width: 2.5,
      'curve-style': 'unbundled-bezier',
      'control-point-distances': -60,
      'control-point-weights': 0.5,
    },
  },
  { selector: 'edge[kind = "endpoint"]', style: { 'line-style': 'dotted', 'line-color': COLORS.endpoint, 'target-arrow-shape': 'none', width: 2 } },
];

function tagsText(tags) {
  if (Array.isArray(tags)) return tags.join(', ');
  return String(tags ?? '');
}

function elements(t) {
  const ids = new Set();
  const unique = t.nodes.filter((n) => typeof n.id === 'string' && !ids.has(n.id) && ids.add(n.id));
  const nodes = unique.map((n) => {
    const tags = tagsText(n.tags);
    return {
      group: 'nodes',
      data: {
        id: n.id,
        kind: n.kind || 'node',
        isSelf: !!n.is_self || n.id === t.self,
        address: n.address ?? '',
        tags,
        label: tags ? `${shortId(n.id)}\n${tags}` : shortId(n.id),
      },
    };
  });
  // An edge to a node the answer does not list would make cytoscape throw: skip it.
  // So would two edges of one ID (a repeated edge): keep the first.
  const edgeIds = new Set();
  const edges = t.edges
    .filter((e) => ids.has(e.source) && ids.has(e.target))
    .map((e) => ({ group: 'edges', data: { id: `${e.kind}:${e.source}>${e.target}`, source: e.source, target: e.target, kind: e.kind } }))
    .filter((e) => !edgeIds.has(e.data.id) && edgeIds.add(e.data.id));
  return { nodes, edges };
}

const KIND_ORDER = { node: 0, 'server-endpoint': 1, 'client-endpoint': 2 };

function runLayout() {
  // Parent and endpoint edges go child -> parent; they make the tree. Tunnel edges do not.
  const tree = cy.edges('[kind = "parent"], [kind = "endpoint"]').map((e) => ({ child: e.data('source'), parent: e.data('target') }));
  const kindOf = (id) => KIND_ORDER[cy.getElementById(id).data('kind')] ?? 3;
  const order = (a, b) => kindOf(a) - kindOf(b) || (a < b ? -1 : a > b ? 1 : 0);
  const pos = treeLayout(cy.nodes().map((n) => n.id()), tree, order);
  cy.layout({ name: 'preset', positions: (n) => pos.get(n.id()), fit: false, animate: false }).run();
  fit();
}

function fit() {
  if (!cy) return;
  cy.resize();
  cy.fit(undefined, 40);
  if (cy.zoom() > 1.6) {
    cy.zoom(1.6);
    cy.center();
  }
}

function ensureCy() {
  if (cy) return;
  if (typeof window.cytoscape !== 'function') throw new Error('vendor/cytoscape.min.js did not load');
  cy = window.cytoscape({ container: $('#topology-graph'), style: STYLE, minZoom: 0.1, maxZoom: 4, boxSelectionEnabled: false });
  cy.on('tap', 'node', (ev) => {
    const d = ev.target.data();
    const what = { node: 'node', 'server-endpoint': 'server endpoint', 'client-endpoint': 'client endpoint' }[d.kind] ?? d.kind;
    const parts = [`${what} ${d.id}`];
    if (d.isSelf) parts.push('(this node)');
    if (d.address) parts.push(`address ${d.address}`);
    if (d.tags) parts.push(`tags ${d.tags}`);
    $('#topology-details').textContent = parts.join(' · ');
  });
  cy.on('tap', (ev) => {
    if (ev.target === cy) $('#topology-details').textContent = 'Parents are drawn above their children. Click a node for its details.';
  });
  window.addEventListener('resize', () => {
    if (!$('#topology').hidden) fit();
  });
  $('#topology-fit').addEventListener('click', fit);
  $('#topology-relayout').addEventListener('click', runLayout);
}

export async function refreshTopology() {
  const t = await get('/api/v1/topology');
  ensureCy();
  const { nodes, edges } = elements(t);
  const shape = JSON.stringify([nodes.map((n) => n.data.id).sort(), edges.map((e) => e.data.id).sort()]);
  const data = JSON.stringify([nodes, edges]);
  if (shape !== lastShape) {
    cy.batch(() => {
      cy.elements().remove();
      cy.add([...nodes, ...edges]);
    });
    runLayout();
  } else if (data !== lastData) {
    // Same graph, new labels or kinds: update in place, positions stay.
    cy.batch(() => {
      for (const n of nodes) cy.getElementById(n.data.id).data(n.data);
    });
  }
  lastShape = shape;
  lastData = data;
  const g = $('#topology-graph');
  g.dataset.nodeCount = String(cy.nodes().length);
  g.dataset.edgeCount = String(cy.edges().length);
}

/** The page became visible: cytoscape measured a hidden container, so measure again. */
export function topologyShown() {
  if (cy) fit();
}

/** Logged out: forget the graph. */
export function resetTopology() {
  if (cy) cy.destroy();
  cy = null;
  lastShape = '';
  lastData = '';
  const g = $('#topology-graph');
  delete g.dataset.nodeCount;
  delete g.dataset.edgeCount;
}
