// A tidy tree layout: each parent centred above its children, subtrees side by side, no
// edge crossing another (cytoscape's breadthfirst only sorts nodes into rows, so children
// drift away from their parents and the edges cross in any real-sized network).

/**
 * Positions for `ids` given tree edges `{child, parent}`; `order(a, b)` sorts siblings.
 * Returns a Map id -> {x, y}. Nodes in a cycle or with an unknown parent become roots.
 */
export function treeLayout(ids, edges, order, { dx = 120, dy = 110 } = {}) {
  const known = new Set(ids);
  const parentOf = new Map();
  for (const e of edges) {
    if (known.has(e.child) && known.has(e.parent) && e.child !== e.parent && !parentOf.has(e.child)) {
      parentOf.set(e.child, e.parent);
    }
  }
  // Break cycles: walk up from each node; a node met twice on one walk loses its parent.
  for (const id of ids) {
    const seen = new Set([id]);
    let n = id;
    while (parentOf.has(n)) {
      const p = parentOf.get(n);
      if (seen.has(p)) {
        parentOf.delete(n);
        break;
      }
      seen.add(p);
      n = p;
    }
  }
  const children = new Map(ids.map((id) => [id, []]));
  for (const [c, p] of parentOf) children.get(p).push(c);
  for (const list of children.values()) list.sort(order);

  const width = new Map();
  const widthOf = (n) => {
    const w = Math.max(1, children.get(n).reduce((s, c) => s + widthOf(c), 0));
    width.set(n, w);
    return w;
  };
  const roots = ids.filter((id) => !parentOf.has(id));
  for (const r of roots) widthOf(r);
  // The biggest tree first (the network), lone nodes after it.
  roots.sort((a, b) => width.get(b) - width.get(a) || order(a, b));

  const pos = new Map();
  const place = (n, left, depth) => {
    const kids = children.get(n);
    if (kids.length === 0) {
      pos.set(n, { x: (left + 0.5) * dx, y: depth * dy });
      return;
    }
    let x = left;
    for (const c of kids) {
      place(c, x, depth + 1);
      x += width.get(c);
    }
    const first = pos.get(kids[0]).x;
    const last = pos.get(kids[kids.length - 1]).x;
    pos.set(n, { x: (first + last) / 2, y: depth * dy });
  };
  let left = 0;
  for (const r of roots) {
    place(r, left, 0);
    left += width.get(r);
  }
  return pos;
}
