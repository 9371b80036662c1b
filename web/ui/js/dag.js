// dag.js — where each step of a run's DAG goes. Small graphs are laid out by
// dagre (vendored, docs/web.md); above DAGRE_MAX steps dagre takes seconds
// (measured: bench/web_ui.sh and docs/web.md), so a layered layout of our own
// takes over: rank = longest path from a root, order within a rank by the
// barycentre of the predecessors (two sweeps), straight edges. O(V + E) per
// sweep plus a sort per rank.
// dagre is loaded on first use only (most pages never draw a DAG).
let dagre = null;

export const NODE_W = 170;
export const NODE_H = 46;
export const DAGRE_MAX = 100;

export async function layout(steps) {
  if (steps.length > DAGRE_MAX) return layoutLayered(steps);
  dagre ||= (await import('../vendor/dagre/dagre.esm.js')).default;
  return layoutDagre(steps);
}

function layoutDagre(steps) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 46, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(steps.map(s => s.name));
  for (const s of steps) g.setNode(s.name, { width: NODE_W, height: NODE_H });
  for (const s of steps) for (const d of s.deps || []) if (names.has(d)) g.setEdge(d, s.name);
  dagre.layout(g);
  const nodes = new Map();
  for (const n of g.nodes()) {
    const v = g.node(n);
    nodes.set(n, { x: v.x - NODE_W / 2, y: v.y - NODE_H / 2 });
  }
  const edges = g.edges().map(e => ({ from: e.v, to: e.w, points: g.edge(e).points.map(p => [p.x, p.y]) }));
  const gr = g.graph();
  return { nodes, edges, width: gr.width + 20, height: gr.height + 20, engine: 'dagre' };
}

function layoutLayered(steps) {
  const byName = new Map(steps.map(s => [s.name, s]));
  const succ = new Map(steps.map(s => [s.name, []]));
  const indeg = new Map(steps.map(s => [s.name, 0]));
  for (const s of steps) for (const d of s.deps || []) {
    if (!byName.has(d)) continue;
    succ.get(d).push(s.name);
    indeg.set(s.name, indeg.get(s.name) + 1);
  }
  // Longest-path ranks in topological order (the coordinator refuses cycles;
  // anything left over is placed in a last rank rather than lost).
  const rank = new Map();
  const queue = steps.filter(s => indeg.get(s.name) === 0).map(s => s.name);
  for (const n of queue) rank.set(n, 0);
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i];
    for (const m of succ.get(n)) {
      rank.set(m, Math.max(rank.get(m) || 0, rank.get(n) + 1));
      indeg.set(m, indeg.get(m) - 1);
      if (indeg.get(m) === 0) queue.push(m);
    }
  }
  let maxRank = 0;
  for (const v of rank.values()) maxRank = Math.max(maxRank, v);
  for (const s of steps) if (!rank.has(s.name)) rank.set(s.name, maxRank + 1);
  const layers = [];
  for (const s of steps) (layers[rank.get(s.name)] ||= []).push(s.name);
  const pos = new Map();
  layers.forEach(l => l.forEach((n, i) => pos.set(n, i)));
  for (let sweep = 0; sweep < 2; sweep++) {
    for (let r = 1; r < layers.length; r++) {
      const l = layers[r];
      if (!l) continue;
      const key = new Map();
      for (const n of l) {
        const ds = (byName.get(n).deps || []).filter(d => pos.has(d));
        key.set(n, ds.length ? ds.reduce((a, d) => a + pos.get(d), 0) / ds.length : pos.get(n));
      }
      l.sort((a, b) => key.get(a) - key.get(b));
      l.forEach((n, i) => pos.set(n, i));
    }
  }
  const gapX = 46, gapY = 14, m = 10;
  const nodes = new Map();
  let rows = 0;
  layers.forEach((l, r) => {
    if (!l) return;
    rows = Math.max(rows, l.length);
    l.forEach((n, i) => nodes.set(n, { x: m + r * (NODE_W + gapX), y: m + i * (NODE_H + gapY) }));
  });
  const edges = [];
  for (const s of steps) for (const d of s.deps || []) {
    const a = nodes.get(d), b = nodes.get(s.name);
    if (!a || !b) continue;
    edges.push({ from: d, to: s.name, points: [[a.x + NODE_W, a.y + NODE_H / 2], [b.x, b.y + NODE_H / 2]] });
  }
  return { nodes, edges, width: 2 * m + layers.length * (NODE_W + gapX), height: 2 * m + rows * (NODE_H + gapY), engine: 'layered' };
}
