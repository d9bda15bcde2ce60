// The dashboard page: the service graph (cytoscape) fed by the server's event stream, a
// namespace filter, a time window, and the details panel of the clicked node or edge.
/* global window, document, EventSource, cytoscape */
'use strict';

const RED = '#d33333';
const state = { graph: undefined, selected: undefined, detailsVersion: undefined, source: undefined, elementsKey: '' };
window.ambit = state;

const cy = cytoscape({
  container: document.getElementById('cy'),
  style: [
    {
      selector: 'node',
      style: {
        label: 'data(label)',
        'font-size': 11,
        'text-valign': 'bottom',
        'text-margin-y': 4,
        width: 30,
        height: 30,
        'background-color': '#5b8def',
        color: '#1d2733',
      },
    },
    { selector: 'node[type = "service"]', style: { shape: 'round-triangle', 'background-color': '#8250df' } },
    {
      selector: 'node[type = "waypoint"]',
      style: { shape: 'diamond', 'background-color': '#bf8700', width: 36, height: 36 },
    },
    { selector: 'node[type = "unknown"]', style: { shape: 'octagon', 'background-color': '#8c959f' } },
    {
      selector: 'node[type = "namespace"]',
      style: {
        shape: 'round-rectangle',
        'background-color': '#eef3f8',
        'background-opacity': 0.7,
        'border-color': '#9fb3c8',
        'border-width': 1,
        'text-valign': 'top',
        'text-margin-y': -4,
        'font-weight': 'bold',
        'font-size': 13,
        padding: 18,
      },
    },
    { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#0969da' } },
    {
      selector: 'node.lock',
      style: {
        shape: 'rectangle',
        width: 14,
        height: 14,
        'background-opacity': 0,
        'background-image': 'data(icon)',
        'background-fit': 'contain',
        label: '',
        events: 'no',
        'z-index': 100,
        'z-compound-depth': 'top',
      },
    },
    {
      selector: 'edge',
      style: {
        width: 'data(width)',
        'curve-style': 'bezier',
        'target-arrow-shape': 'triangle',
        'line-color': '#2da44e',
        'target-arrow-color': '#2da44e',
        label: 'data(label)',
        'font-size': 9,
        'text-rotation': 'autorotate',
        'text-background-color': '#fff',
        'text-background-opacity': 0.85,
        'text-background-padding': 1,
        'text-margin-y': -10,
        color: '#1d2733',
      },
    },
    { selector: 'edge.errors', style: { 'line-color': '#d4a72c', 'target-arrow-color': '#d4a72c' } },
    { selector: 'edge.denied', style: { 'line-color': RED, 'target-arrow-color': RED, color: RED } },
    {
      selector: 'edge.idle',
      style: { 'line-color': '#b0b8c1', 'target-arrow-color': '#b0b8c1', 'line-style': 'dashed' },
    },
    { selector: 'edge.plain', style: { 'line-style': 'dotted' } },
    { selector: 'edge:selected', style: { 'overlay-color': '#0969da', 'overlay-opacity': 0.15 } },
  ],
});
state.cy = cy;

/** The padlock drawn on every mutual-TLS edge (an image: no emoji font needed). */
const LOCK_ICON = `data:image/svg+xml;utf8,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 20 20">' +
    '<path d="M6 9V6.5a4 4 0 0 1 8 0V9" fill="none" stroke="#1a7f37" stroke-width="2.2"/>' +
    '<rect x="3.5" y="8.5" width="13" height="10" rx="2" fill="#1a7f37"/>' +
    '<circle cx="10" cy="13.3" r="1.6" fill="#fff"/></svg>',
)}`;
state.lockIcon = LOCK_ICON;
document.getElementById('lock-legend').innerHTML = `<img src="${LOCK_ICON}" alt="lock" width="12" height="12">`;

const fmt = (n, digits) => (n >= 100 ? n.toFixed(0) : n.toFixed(digits));

/** The text on an edge: req/s, error %, p99 and the denials (the lock is drawn beside it). */
function edgeLabel(e) {
  const parts = [];
  if (e.protocol === 'tcp') parts.push(`${fmt(e.rps, 2)} conn/s`);
  else parts.push(`${fmt(e.rps, 2)} rps`, `${fmt(100 * e.errorRate, 1)}% err`);
  if (e.p99Ms !== null && e.p99Ms !== undefined) parts.push(`p99 ${fmt(e.p99Ms, 1)} ms`);
  let text = parts.join(' · ');
  if (e.denied > 0) text += ` · ${e.denied} denied`;
  return e.total > 0 ? text : '';
}

function edgeClasses(e) {
  const c = [];
  if (e.denied > 0) c.push('denied');
  else if (e.errorRate > 0) c.push('errors');
  if (e.total === 0) c.push('idle');
  if (!e.mtls) c.push('plain');
  return c.join(' ');
}

/** Graph JSON → cytoscape elements; an edge through a waypoint becomes two segments. */
function elements(g) {
  const out = [];
  for (const n of g.nodes)
    out.push({
      group: 'nodes',
      data: { id: n.id, label: n.label, type: n.type, ...(n.parent ? { parent: n.parent } : {}) },
    });
  for (const e of g.edges) {
    const width = Math.max(1.5, Math.min(8, 1.5 + Math.log2(1 + e.rps)));
    const data = {
      edgeId: e.id,
      label: edgeLabel(e),
      width,
      denied: e.denied,
      mtls: e.mtls,
      locked: e.mtls && e.total > 0,
      rps: e.rps,
      errorRate: e.errorRate,
      p99Ms: e.p99Ms,
    };
    const classes = edgeClasses(e);
    if (e.via && e.via !== e.source && e.via !== e.target) {
      out.push({
        group: 'edges',
        classes,
        data: {
          ...data,
          id: `${e.id}#to-waypoint`,
          source: e.source,
          target: e.via,
          segment: 'in',
          label: '',
          locked: false,
        },
      });
      out.push({
        group: 'edges',
        classes,
        data: { ...data, id: `${e.id}#from-waypoint`, source: e.via, target: e.target, segment: 'out' },
      });
    } else {
      out.push({ group: 'edges', classes, data: { ...data, id: e.id, source: e.source, target: e.target } });
    }
  }
  return out;
}

/** A padlock on each mutual-TLS edge that carries traffic, on the line under its label. */
function placeLocks() {
  const wanted = new Map();
  cy.edges('[?locked]').forEach((edge) => {
    const m = edge.midpoint();
    wanted.set(`lock:${edge.id()}`, { x: m.x, y: m.y });
  });
  cy.batch(() => {
    cy.nodes('.lock').forEach((n) => {
      if (!wanted.has(n.id())) n.remove();
    });
    for (const [id, position] of wanted) {
      const n = cy.getElementById(id);
      if (n.nonempty()) n.position(position);
      else
        cy.add({
          group: 'nodes',
          classes: 'lock',
          data: { id, type: 'lock', icon: LOCK_ICON, edge: id.slice(5) },
          position,
          grabbable: false,
          selectable: false,
        });
    }
  });
}
let lockFrame = 0;
cy.on('position', 'node[type != "lock"]', () => {
  if (!lockFrame)
    lockFrame = window.requestAnimationFrame(() => {
      lockFrame = 0;
      placeLocks();
    });
});

function render(g) {
  state.graph = g;
  const els = elements(g);
  const key = els
    .map((x) => x.data.id)
    .sort()
    .join('|');
  if (key !== state.elementsKey) {
    // New nodes or edges: rebuild and lay out again; otherwise only the numbers change.
    state.elementsKey = key;
    cy.elements().remove();
    cy.add(els);
    // Callers first, then services, then the workloads behind them: left to right by hops.
    const leaves = cy.nodes('[type != "namespace"]');
    const roots = leaves.filter((n) => n.incomers('edge').length === 0 && n.outgoers('edge').length > 0);
    cy.layout({
      name: 'breadthfirst',
      directed: true,
      roots: roots.length ? roots : undefined,
      spacingFactor: 1.05,
      animate: false,
      fit: true,
      padding: 30,
      nodeDimensionsIncludeLabels: true,
      transform: (_node, pos) => ({ x: pos.y * 1.6, y: pos.x * 0.8 }),
    }).run();
  } else {
    for (const x of els) {
      const el = cy.getElementById(x.data.id);
      el.data(x.data);
      if (x.group === 'edges') el.classes(x.classes);
    }
  }
  placeLocks();
  const select = document.getElementById('namespace');
  const current = select.value;
  const names = ['', ...g.namespaces];
  if ([...select.options].map((o) => o.value).join('|') !== names.join('|')) {
    select.innerHTML = '';
    for (const n of names) select.add(new window.Option(n || 'all namespaces', n));
    select.value = current;
  }
  const l4 = Object.entries(g.l4Denied || {})
    .filter(([, n]) => n > 0)
    .map(([r, n]) => `${r} ${Math.round(n)}`)
    .join(', ');
  const status = document.getElementById('status');
  status.textContent = [
    g.source === 'prometheus' ? 'Prometheus' : 'local mesh',
    `${g.edges.filter((e) => e.total > 0).length} active edges`,
    `window ${Math.round(g.windowSeconds)} s`,
    `L4 refusals: ${l4 || 'none'}`,
    new Date(g.at).toLocaleTimeString(),
    ...(g.problems.length ? [`⚠ ${g.problems[0]}`] : []),
  ].join(' · ');
  status.className = g.problems.length ? 'problem' : '';
  if (state.selected && g.configVersion !== state.detailsVersion) void showDetails(state.selected);
}

function connect() {
  if (state.source) state.source.close();
  const params = new URLSearchParams({ window: document.getElementById('window').value });
  const ns = document.getElementById('namespace').value;
  if (ns) params.set('namespace', ns);
  const es = new EventSource(`/api/events?${params}`);
  es.addEventListener('graph', (ev) => render(JSON.parse(ev.data)));
  es.onerror = () => {
    document.getElementById('status').textContent = 'disconnected: retrying…';
  };
  state.source = es;
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function table(t, empty) {
  if (!t.rows.length) return `<p class="none">${esc(empty)}</p>`;
  const row = (cells, tag) => `<tr>${cells.map((c) => `<${tag}>${esc(c)}</${tag}>`).join('')}</tr>`;
  return `<table>${row(t.headers, 'th')}${t.rows.map((r) => row(r, 'td')).join('')}</table>`;
}

function edgeMetrics(id) {
  const e = state.graph && state.graph.edges.find((x) => x.id === id);
  if (!e) return '';
  const codes =
    Object.entries(e.codes)
      .map(([c, n]) => `${c}: ${n}`)
      .join(', ') || '—';
  const lock = `<img src="${LOCK_ICON}" alt="lock" width="12" height="12">`;
  const parts = [
    e.protocol,
    `${e.rps} ${e.protocol === 'tcp' ? 'conn' : 'req'}/s`,
    `errors ${(100 * e.errorRate).toFixed(1)}%`,
    `p99 ${e.p99Ms ?? '—'} ms`,
    e.mtls ? `${lock} mutual TLS` : 'plaintext',
    `denied ${e.denied}`,
    `codes ${esc(codes)}`,
    ...(e.via ? [`via ${esc(e.via)}`] : []),
  ];
  return `<p class="metrics">${parts.map((p) => `<span>${p}</span>`).join('')}</p>`;
}

async function showDetails(id) {
  state.selected = id;
  const version = state.graph ? state.graph.configVersion : undefined;
  const res = await fetch(`/api/details?id=${encodeURIComponent(id)}`);
  const d = await res.json();
  if (state.selected !== id) return;
  state.detailsVersion = d.configVersion ?? version;
  const el = document.getElementById('details');
  if (d.error) {
    el.innerHTML = `<p class="finding">${esc(d.error)}</p>`;
    return;
  }
  el.innerHTML = [
    `<h2>${esc(id.replace('->', ' → '))}</h2>`,
    id.includes('->') ? edgeMetrics(id) : '',
    ...d.notes.map((n) => `<p class="none">${esc(n)}</p>`),
    '<h3>Analyze findings</h3>',
    d.findings.length
      ? `<ul>${d.findings.map((f) => `<li class="finding">${esc(f)}</li>`).join('')}</ul>`
      : '<p class="none">no problems found</p>',
    '<h3>Policies</h3>',
    `<div id="details-policies">${table(d.policies, 'no policies apply')}</div>`,
    '<h3>Routes</h3>',
    table(d.routes, 'no L7 routes (no waypoint serves it)'),
    '<h3>Istio config</h3>',
    d.objects.length
      ? d.objects.map((o) => `<details><summary>${esc(o.key)}</summary><pre>${esc(o.yaml)}</pre></details>`).join('')
      : '<p class="none">no objects</p>',
  ].join('');
}

cy.on('tap', 'node, edge', (ev) => {
  const t = ev.target;
  const id = t.isEdge() ? t.data('edgeId') : t.id();
  if (t.isNode() && t.data('type') === 'namespace') return;
  void showDetails(id);
});
document.getElementById('window').addEventListener('change', connect);
document.getElementById('namespace').addEventListener('change', () => {
  state.elementsKey = '';
  connect();
});
connect();
