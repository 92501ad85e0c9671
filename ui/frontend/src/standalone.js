// An exported map (`embedscope export-map`): the same map as the Explore tab, with no server.
//
// The data comes from map-data.js (window.EMBEDSCOPE_EXPORT, written by ui/map/export.py): the
// coordinates and every colouring as base64 binary arrays (handed to the map as data: URLs, which
// a page opened from file:// may fetch), the point ids and captions, and the thumbnails packed
// into atlas images that CSS cuts tiles from. The selection's gallery, its order and the CSV
// export run here, in the page.

import { mount, node, spriteNode } from './map.js';

const PAGE_SIZE = 48;
const ORDERS = [
  ['map', 'map order', null, 0],
  ['unique', 'most unique first', 'uniqueness', -1],
  ['typical', 'most typical first', 'representativeness', -1],
];

function fromBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

// Options of a <select>, each name as text (names come from the data: class names, tags).
function options(select, names) {
  select.replaceChildren(...names.map((name) => new Option(String(name), String(name))));
}

function csvCell(value) {
  const s = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const TEMPLATE = `
<div class="es-head">
  <span class="es-title" data-role="title"></span>
  <label>Colour by <select data-role="colour"></select></label>
  <label>Select group <select data-role="group"></select></label>
</div>
<div class="es-root"></div>
<section class="es-gallery" data-role="gallery">
  <div class="es-gallery-bar">
    <span data-role="summary">Draw a lasso or a box (or shift-drag) to select points.</span>
    <button type="button" data-g="prev">◀</button><span data-role="page"></span>
    <button type="button" data-g="next">▶</button>
    <label>Order <select data-role="order"></select></label>
    <button type="button" data-g="csv">Export CSV</button>
  </div>
  <div class="es-counts" data-role="counts"></div>
  <div class="es-tiles" data-role="tiles"></div>
</section>`;

export function standalone(root, data) {
  root.innerHTML = TEMPLATE;
  const $ = (sel) => root.querySelector(sel);
  const all = Number(data.map_points || data.n);
  $('[data-role=title]').textContent = `${data.collection} · ${data.projection} · `
    + (all > data.n
      ? `${data.n.toLocaleString('en-US')} of ${all.toLocaleString('en-US')} points: a seeded `
        + 'sample (export-map --max-points); the density overview and the legend count every point'
      : `${data.n.toLocaleString('en-US')} points`);
  const ids = fromBase64(data.ids);
  const fields = {};
  for (const f of data.fields) fields[f.name] = f;
  const entry = (f) => ({
    title: f.name, kind: f.kind, version: 0, names: f.names, counts: f.counts, noise: f.noise,
    low: f.low, high: f.high, url: `data:application/octet-stream;base64,${f.codes}`,
    ...(f.density ? { density_url: `data:application/octet-stream;base64,${f.density}` } : {}),
  });
  const decoded = {};
  const codesOf = (f) => {
    if (!decoded[f.name]) {
      const raw = fromBase64(f.codes);
      decoded[f.name] = f.kind === 'continuous' ? raw : new Uint16Array(raw.buffer);
    }
    return decoded[f.name];
  };
  const valuesOf = (f) => {
    const key = `${f.name}/values`;
    if (!decoded[key]) decoded[key] = f.values ? new Float32Array(fromBase64(f.values).buffer) : null;
    return decoded[key];
  };
  const idOf = (row) => {
    const h = Array.from(ids.subarray(row * 16, row * 16 + 16), (b) => b.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const atlas = data.atlas;
  const spriteOf = (row) => {
    if (!atlas) return null;
    const k = Math.floor(row / atlas.per_atlas);
    const i = row % atlas.per_atlas;
    const [width, height] = atlas.sizes[k];
    return { url: atlas.files[k], tile: atlas.tile, width, height,
      x: (i % atlas.columns) * atlas.tile, y: Math.floor(i / atlas.columns) * atlas.tile };
  };

  const gallery = { rows: [], ordered: [], page: 0, order: 'map' };
  const order = $('[data-role=order]');
  for (const [key, title, field] of ORDERS) {
    if (field && !(fields[field] && fields[field].values)) continue;
    order.append(new Option(title, key));
  }

  function sortRows() {
    const [, , field, sign] = ORDERS.find(([key]) => key === gallery.order) || ORDERS[0];
    gallery.ordered = gallery.rows.slice();
    if (!field) return;
    const v = valuesOf(fields[field]);
    const key = (r) => (Number.isNaN(v[r]) ? Infinity : sign * v[r]); // unscored last
    gallery.ordered.sort((a, b) => key(a) - key(b) || a - b);
  }

  function showGallery() {
    const n = gallery.rows.length;
    const pages = Math.max(1, Math.ceil(n / PAGE_SIZE));
    gallery.page = Math.min(Math.max(gallery.page, 0), pages - 1);
    $('[data-role=summary]').textContent = n
      ? `${n.toLocaleString('en-US')} selected` : 'Draw a lasso or a box (or shift-drag) to select points.';
    $('[data-role=page]').textContent = n ? ` page ${gallery.page + 1} of ${pages} ` : '';
    const label = fields.label;
    if (label && n) {
      const codes = codesOf(label);
      const counts = new Map();
      for (const r of gallery.rows) counts.set(codes[r], (counts.get(codes[r]) || 0) + 1);
      $('[data-role=counts]').textContent = [...counts.entries()].sort((a, b) => b[1] - a[1])
        .map(([c, k]) => `${label.names[c]} ${k}`).join(' · ');
    } else $('[data-role=counts]').textContent = '';
    const start = gallery.page * PAGE_SIZE;
    $('[data-role=tiles]').replaceChildren(...gallery.ordered.slice(start, start + PAGE_SIZE).map((r) => {
      const sprite = spriteOf(r);
      const tile = node('figure', 'es-tile');
      tile.dataset.row = String(r);
      tile.append(sprite ? spriteNode(sprite, 96) : node('div', 'es-sprite'),
        node('figcaption', '', data.captions[r] || ''));
      return tile;
    }));
  }

  function csv() {
    const names = data.fields.map((f) => f.name);
    const lines = [['id', 'caption', ...names].map(csvCell).join(',')];
    for (const r of gallery.ordered) {
      const cells = [idOf(r), data.captions[r] || ''];
      for (const f of data.fields) {
        if (f.kind === 'continuous') {
          const v = valuesOf(f);
          cells.push(v && !Number.isNaN(v[r]) ? v[r] : '');
        } else cells.push(f.names[codesOf(f)[r]]);
      }
      lines.push(cells.map(csvCell).join(','));
    }
    return lines.join('\n') + '\n';
  }

  function download() {
    if (!gallery.rows.length) return;
    const blob = new Blob([csv()], { type: 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${data.collection}-selection-${gallery.rows.length}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  root.querySelector('[data-g=prev]').addEventListener('click', () => { gallery.page -= 1; showGallery(); });
  root.querySelector('[data-g=next]').addEventListener('click', () => { gallery.page += 1; showGallery(); });
  root.querySelector('[data-g=csv]').addEventListener('click', download);
  order.addEventListener('change', () => { gallery.order = order.value; sortRows(); gallery.page = 0; showGallery(); });

  const server = {
    async put_selection(payload) {
      const raw = fromBase64(payload.rows);
      gallery.rows = Array.from(new Uint32Array(raw.buffer, 0, payload.count));
      gallery.page = 0;
      sortRows();
      showGallery();
    },
    async point_info({ row }) {
      return { caption: data.captions[row] || `point ${row}`, sprite: spriteOf(row) };
    },
  };

  const descriptor = (colourBy) => {
    const colourings = {};
    if (fields[colourBy]) colourings[colourBy] = entry(fields[colourBy]);
    return {
      token: 'export', n: data.n, collection: data.collection, projection: data.projection,
      xy_url: `data:application/octet-stream;base64,${data.xy}`, colour_by: colourBy,
      colourings, highlight: null, marks: {}, ...(data.density ? { density: data.density } : {}),
    };
  };
  const colour = $('[data-role=colour]');
  options(colour, ['(none)', ...data.fields.map((f) => f.name)]);
  colour.value = data.colour_by || '(none)';
  const props = { value: descriptor(colour.value) };
  const api = mount($('.es-root'), { trigger() {}, server, props, watch() {} });
  // "Select group": every point of one group of the colouring (a whole class, when coloured
  // by label) becomes the selection, so the gallery shows it in the chosen order
  const group = $('[data-role=group]');
  const groups = () => {
    const f = fields[colour.value];
    const names = f && f.kind === 'category' ? f.names : [];
    options(group, ['', ...names]);
    group.disabled = !names.length;
  };
  group.addEventListener('change', () => {
    const f = fields[colour.value];
    const code = f && f.kind === 'category' ? f.names.indexOf(group.value) : -1;
    if (code < 0) return;
    const codes = codesOf(f);
    const rows = [];
    for (let i = 0; i < data.n; i++) if (codes[i] === code) rows.push(i);
    api.selectRows(rows);
  });
  groups();
  colour.addEventListener('change', () => { groups(); api.apply(descriptor(colour.value)); });
  const exported = { map: api, gallery, csv, idOf, showGallery, setOrder(key) { order.value = key; order.dispatchEvent(new Event('change')); } };
  window.embedscopeExport = exported;
  return exported;
}
