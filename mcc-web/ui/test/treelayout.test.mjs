// The topology's tree layout (../../www/treelayout.js). Run: node --test mcc-web/ui/test
import test from 'node:test';
import assert from 'node:assert/strict';
import { treeLayout } from '../../www/treelayout.js';

const byId = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

test('parents above and centred over their children, subtrees apart', () => {
  const ids = ['root', 'a', 'b', 'a1', 'a2', 'b1'];
  const edges = [
    { child: 'a', parent: 'root' },
    { child: 'b', parent: 'root' },
    { child: 'a1', parent: 'a' },
    { child: 'a2', parent: 'a' },
    { child: 'b1', parent: 'b' },
  ];
  const p = treeLayout(ids, edges, byId);
  assert.equal(p.size, ids.length);
  for (const { child, parent } of edges) assert.ok(p.get(parent).y < p.get(child).y, `${parent} above ${child}`);
  assert.equal(p.get('a').x, (p.get('a1').x + p.get('a2').x) / 2);
  assert.equal(p.get('b').x, p.get('b1').x);
  // a's subtree lies wholly left of b's: no parent edge can cross another.
  assert.ok(Math.max(p.get('a1').x, p.get('a2').x) < p.get('b1').x);
  const xs = ids.map((id) => `${p.get(id).x},${p.get(id).y}`);
  assert.equal(new Set(xs).size, ids.length, 'no two nodes on one spot');
});

test('cycles, self-loops and unknown parents do not hang or lose nodes', () => {
  const p = treeLayout(
    ['x', 'y', 'z', 'w'],
    [
      { child: 'x', parent: 'y' },
      { child: 'y', parent: 'x' },
      { child: 'z', parent: 'z' },
      { child: 'w', parent: 'gone' },
    ],
    byId,
  );
  assert.equal(p.size, 4);
  for (const v of p.values()) assert.ok(Number.isFinite(v.x) && Number.isFinite(v.y));
});

test('the biggest tree comes first', () => {
  const p = treeLayout(['lone', 'r', 'c1', 'c2'], [{ child: 'c1', parent: 'r' }, { child: 'c2', parent: 'r' }], byId);
  assert.ok(p.get('r').x < p.get('lone').x);
});
