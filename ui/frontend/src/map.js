// The Explore tab's embedding map: a regl-scatterplot (WebGL) inside a Gradio gr.HTML block.
//
// Python sends a small JSON descriptor as the block's value (ui/map/published.py); the points come as
// binary files (float32 x/y in [-1, 1], uint16 category codes or uint8 continuous values) that
// this code fetches by URL. Selections go back with trigger('selection', …) as base64 uint32
// row indices; hover asks the server for the point's thumbnail and caption. An exported map
// (standalone.js) passes its own `server` and data: URLs instead: no server at all.

import createScatterplot from 'regl-scatterplot';

const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
  '#bcbd22', '#17becf', '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94',
  '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5',
];
const NOISE = '#b0b0b0';
// viridis stops, interpolated to RAMP_SIZE colours for continuous values in [0, 1]
const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779',
  '#6ece58', '#b5de2b', '#fde725'];
const RAMP_SIZE = 64;
// valueB codes: 0 dimmed (another group is highlighted), 1 normal, 2 search neighbour, 3 query
const OPACITY = [0.08, 0.85, 1, 1];

function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function rgbToHex([r, g, b]) {
  return '#' + [r, g, b].map((c) => Math.round(c).toString(16).padStart(2, '0')).join('');
}

function ramp(n) {
  const stops = VIRIDIS.map(hexToRgb);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = (i / (n - 1)) * (stops.length - 1);
    const k = Math.min(Math.floor(t), stops.length - 2);
    const f = t - k;
    out.push(rgbToHex(stops[k].map((c, j) => c + (stops[k + 1][j] - c) * f)));
  }
  return out;
}

const RAMP = ramp(RAMP_SIZE);

function toBase64(u8) {
  let s = '';
  const step = 0x8000;
  for (let i = 0; i < u8.length; i += step) {
    s += String.fromCharCode.apply(null, u8.subarray(i, i + step));
  }
  return btoa(s);
}

// Values from the data (class names, captions, tags, thumbnails) are text: every element that
// shows one is built here and given it as textContent or a checked property, never as markup.
export function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined && text !== null) el.textContent = String(text);
  return el;
}

// The only images a hover card draws: the server's checked thumbnails (embedscope/thumbnails.py).
const THUMBNAIL_URL = /^data:image\/(png|jpeg|webp|gif);base64,[A-Za-z0-9+/]+={0,2}$/;

function thumbnailNode(src) {
  if (typeof src !== 'string' || !THUMBNAIL_URL.test(src)) return null;
  const img = node('img');
  img.alt = '';
  img.src = src;
  return img;
}

// A thumbnail cut from an atlas image (an exported map: one image holds many thumbnails, and
// a page opened from file:// may not read pixels back from it, so CSS shows the tile).
export function spriteNode(sprite, size) {
  const k = size / Number(sprite.tile);
  const el = node('div', 'es-sprite');
  el.style.width = `${size}px`;
  el.style.height = `${size}px`;
  el.style.backgroundImage = `url(${JSON.stringify(String(sprite.url))})`;
  el.style.backgroundPosition = `-${Number(sprite.x) * k}px -${Number(sprite.y) * k}px`;
  el.style.backgroundSize = `${Number(sprite.width) * k}px ${Number(sprite.height) * k}px`;
  return el;
}

async function fetchBuffer(url) {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`could not load ${url}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

const TEMPLATE = `
<div class="es-toolbar">
  <span class="es-group" role="group" aria-label="Mouse">
    <button type="button" data-tool="pan" class="es-on" title="Drag to pan, wheel to zoom (shift-drag: lasso)">Pan / zoom</button>
    <button type="button" data-tool="lasso" title="Drag a free-form lasso">Lasso</button>
    <button type="button" data-tool="box" title="Drag a rectangle">Box</button>
  </span>
  <span class="es-group" role="group" aria-label="Selection">
    <button type="button" data-op="replace" class="es-on" title="A new selection replaces the old one">New</button>
    <button type="button" data-op="add" title="Add to the selection (or hold Ctrl/Cmd)">Add</button>
    <button type="button" data-op="subtract" title="Remove from the selection (or hold Alt)">Subtract</button>
  </span>
  <button type="button" data-action="clear" title="Clear the selection (Esc)">Clear</button>
  <button type="button" data-action="reset" title="Show the whole map">Reset view</button>
  <span class="es-count" data-role="count"></span>
</div>
<div class="es-body">
  <div class="es-plot"><canvas></canvas><div class="es-labels" data-role="labels"></div>
    <div class="es-tooltip" hidden></div>
    <div class="es-empty" data-role="empty"></div></div>
  <div class="es-legend" data-role="legend"></div>
</div>`;

export function mount(root, { trigger, server, props, watch }) {
  root.innerHTML = TEMPLATE;
  const plot = root.querySelector('.es-plot');
  const canvas = plot.querySelector('canvas');
  const tooltip = plot.querySelector('.es-tooltip');
  const empty = root.querySelector('[data-role=empty]');
  const legend = root.querySelector('[data-role=legend]');
  const count = root.querySelector('[data-role=count]');
  const labels = root.querySelector('[data-role=labels]');

  const state = {
    desc: null, token: null, n: 0, x: null, y: null, valueA: null, valueB: null,
    colourKey: null, continuous: false, selected: new Uint8Array(0), nSelected: 0,
    op: 'replace', keys: { merge: false, remove: false }, ready: false, drawnAt: 0,
    hovered: -1, caption: null, mouse: [0, 0], infoCache: new Map(), loading: null, error: null,
    timings: { mounted: performance.now() }, seq: 0, selectNonce: null,
    // a large map's density overview (ui/map/density.py): its grid, the cells' groups and
    // intensities, and how far the points have replaced it (0: the overview only, 1: points)
    density: null, densityKey: null, fade: 1, fadeLevel: -1, overviewAt: 0,
    page: (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)),
  };

  const size = () => {
    const r = plot.getBoundingClientRect();
    return [Math.max(1, Math.floor(r.width)), Math.max(1, Math.floor(r.height))];
  };
  const [w0, h0] = size();
  const sp = createScatterplot({
    canvas, width: w0, height: h0, pointSize: 3, pointSizeSelected: 2, pointOutlineWidth: 1,
    opacityBy: 'valueB', opacity: OPACITY, sizeBy: 'valueB', pointColorActive: '#000000',
    lassoColor: [0.1, 0.1, 0.1, 1], lassoMinDelay: 5, lassoMinDist: 2,
    actionKeyMap: { lasso: 'shift', merge: 'ctrl', remove: 'alt' },
    backgroundColor: [1, 1, 1, 1], deselectOnDblClick: true, deselectOnEscape: true,
  });
  state.timings.created = performance.now();

  // The map may be mounted in a hidden tab (its size 0): a large map's overview is drawn there
  // at once, its points are fetched once it is shown (whenShown), and the first frame drawn at
  // its real size is the map as the user first sees it (timings.visible).
  const shown = [];
  const isShown = () => { const [w, h] = size(); return w > 1 && h > 1; };
  const whenShown = () => (isShown() ? Promise.resolve() : new Promise((resolve) => shown.push(resolve)));
  new ResizeObserver(() => {
    const [w, h] = size();
    if (w > 1 && h > 1) {
      sp.set({ width: w, height: h });
      shown.splice(0).forEach((resolve) => resolve());
    }
  }).observe(plot);
  sp.subscribe('draw', () => {
    if (!state.timings.visible && (state.overviewAt || state.drawnAt) && isShown()) {
      state.timings.visible = performance.now();
    }
  });

  // --- toolbar --------------------------------------------------------------------------
  const setTool = (tool) => {
    root.querySelectorAll('[data-tool]').forEach((b) => b.classList.toggle('es-on', b.dataset.tool === tool));
    if (tool === 'pan') sp.set({ mouseMode: 'panZoom', lassoType: 'freeform' });
    else sp.set({ mouseMode: 'lasso', lassoType: tool === 'box' ? 'rectangle' : 'freeform' });
  };
  const setOp = (op) => {
    state.op = op;
    root.querySelectorAll('[data-op]').forEach((b) => b.classList.toggle('es-on', b.dataset.op === op));
  };
  root.querySelectorAll('[data-tool]').forEach((b) => b.addEventListener('click', () => setTool(b.dataset.tool)));
  root.querySelectorAll('[data-op]').forEach((b) => b.addEventListener('click', () => setOp(b.dataset.op)));
  root.querySelector('[data-action=clear]').addEventListener('click', () => setSelection([], 'replace'));
  root.querySelector('[data-action=reset]').addEventListener('click', () => sp.reset());
  const keys = (e) => {
    state.keys.merge = e.ctrlKey || e.metaKey;
    state.keys.remove = e.altKey;
  };
  window.addEventListener('keydown', keys);
  window.addEventListener('keyup', keys);

  // --- selection ------------------------------------------------------------------------
  function rowsOf(mask) {
    const out = [];
    for (let i = 0; i < mask.length; i++) if (mask[i]) out.push(i);
    return out;
  }

  function send() {
    const rows = new Uint32Array(rowsOf(state.selected));
    state.nSelected = rows.length;
    showCount();
    // Hand the rows to the server first, then trigger the event: a queued Gradio event may
    // run with an earlier trigger's data, the server keeps the latest (by seq) per page.
    state.seq += 1;
    const seq = state.seq;
    const payload = {
      page: state.page, seq, token: state.token, count: rows.length,
      rows: toBase64(new Uint8Array(rows.buffer)),
    };
    server.put_selection(payload)
      .then(() => trigger('selection', { page: state.page, seq, token: state.token }))
      .catch(() => trigger('selection', payload));
  }

  // Combine a new set of rows with the current selection and show + send the result.
  function setSelection(rows, op) {
    if (op === 'replace') state.selected = new Uint8Array(state.n);
    const v = op === 'subtract' ? 0 : 1;
    for (const r of rows) if (r >= 0 && r < state.n) state.selected[r] = v;
    sp.select(rowsOf(state.selected), { preventEvent: true });
    send();
  }

  // "Select group": the points of one group of the colouring drawn become the selection, as
  // if drawn around. The server made the same selection (the gallery): nothing is sent back.
  function selectGroup({ group, nonce }) {
    state.selectNonce = nonce;
    state.selected = new Uint8Array(state.n);
    for (let i = 0; i < state.n; i++) if (state.valueA[i] === group) state.selected[i] = 1;
    const rows = rowsOf(state.selected);
    state.nSelected = rows.length;
    sp.select(rows, { preventEvent: true });
  }

  // A drag (a lasso, a box, a pan) ends in a DOM click where it started when its loop closes;
  // the library takes such a click for a click on the point under it and replaces the lasso's
  // selection with that one point. A click that ends a drag never reaches the library.
  const drag = { at: null, moved: false };
  plot.addEventListener('mousedown', (e) => { drag.at = [e.clientX, e.clientY]; drag.moved = false; }, true);
  plot.addEventListener('mousemove', (e) => {
    if (drag.at && e.buttons && Math.hypot(e.clientX - drag.at[0], e.clientY - drag.at[1]) > 4) drag.moved = true;
  }, true);
  plot.addEventListener('click', (e) => {
    if (drag.moved) { e.stopPropagation(); e.preventDefault(); }
    drag.at = null; drag.moved = false;
  }, true);

  sp.subscribe('select', ({ points }) => {
    if (state.keys.merge || state.keys.remove) {
      // the library already merged or removed: take its result as the selection
      state.selected = new Uint8Array(state.n);
      for (const r of points) state.selected[r] = 1;
      send();
    } else {
      setSelection(points, state.op);
    }
  });
  sp.subscribe('deselect', () => {
    if (state.nSelected > 0) {
      state.selected = new Uint8Array(state.n);
      send();
    }
  });

  // --- hover ----------------------------------------------------------------------------
  plot.addEventListener('mousemove', (e) => {
    const r = plot.getBoundingClientRect();
    state.mouse = [e.clientX - r.left, e.clientY - r.top];
    if (!tooltip.hidden) placeTooltip();
  });
  function placeTooltip() {
    const [mx, my] = state.mouse;
    const [w, h] = size();
    tooltip.style.left = `${Math.min(mx + 14, w - 180)}px`;
    tooltip.style.top = `${Math.min(my + 14, h - 170)}px`;
  }
  async function showInfo(row) {
    const key = `${state.token}:${row}`;
    let info = state.infoCache.get(key);
    if (!info) {
      try {
        info = await server.point_info({ token: state.token, row });
      } catch (err) {
        info = { caption: `point ${row}`, src: null };
      }
      if (state.infoCache.size > 500) state.infoCache.clear();
      state.infoCache.set(key, info);
    }
    if (state.hovered !== row || !info || lassoing) return;
    const img = info.sprite ? spriteNode(info.sprite, 128) : thumbnailNode(info.src);
    tooltip.replaceChildren(...(img ? [img] : []), node('div', 'es-caption', info.caption || ''));
    tooltip.hidden = false;
    placeTooltip();
  }
  let hoverTimer = null;
  let lassoing = false;
  // A lasso hides the card: it would stay over the selection, showing the point it started on.
  function hideCard() {
    state.hovered = -1;
    clearTimeout(hoverTimer);
    tooltip.hidden = true;
  }
  sp.subscribe('lassoStart', () => { lassoing = true; hideCard(); });
  sp.subscribe('lassoEnd', () => { lassoing = false; hideCard(); });
  sp.subscribe('pointover', (row) => {
    if (state.caption !== null) return; // a caption over the point has the mouse
    state.hovered = row;
    clearTimeout(hoverTimer);
    hoverTimer = setTimeout(() => showInfo(row), 40);
  });
  sp.subscribe('pointout', () => {
    state.hovered = -1;
    if (state.caption === null) tooltip.hidden = true;
  });

  // --- drawing --------------------------------------------------------------------------
  function showCount() {
    if (!state.desc || !state.n) { count.textContent = ''; return; }
    const sel = state.nSelected ? ` · ${state.nSelected.toLocaleString('en-US')} selected` : '';
    count.textContent = `${state.n.toLocaleString('en-US')} points${sel}`;
  }

  // --- cluster captions: labels over the canvas, at each cluster's centre point --------------
  function drawCaptions(desc) {
    const caps = (desc && desc.captions) || [];
    if (state.caption !== null) { state.caption = null; tooltip.hidden = true; } // its label goes
    labels.replaceChildren(...caps.map((c) => {
      const el = node('div', 'es-label', c.text);
      el.dataset.row = String(c.row);
      el.dataset.score = String(c.score);
      return el;
    }));
    placeCaptions();
  }
  // A caption takes the mouse: hovering it shows the caption and its cosine (not the point
  // under it); the wheel still zooms the map.
  function captionOf(target) {
    return target instanceof Element ? target.closest('.es-label') : null;
  }
  labels.addEventListener('mouseover', (e) => {
    const el = captionOf(e.target);
    if (!el) return;
    clearTimeout(hoverTimer);
    state.hovered = -1;
    state.caption = el.textContent;
    const text = document.createElement('div');
    text.className = 'es-caption';
    text.textContent = el.textContent;
    const score = document.createElement('div');
    score.className = 'es-caption';
    score.textContent = `cosine ${el.dataset.score}`;
    tooltip.replaceChildren(text, score);
    tooltip.hidden = false;
    placeTooltip();
  });
  labels.addEventListener('mouseout', (e) => {
    const el = captionOf(e.target);
    if (!el || el.contains(e.relatedTarget)) return;
    state.caption = null;
    tooltip.hidden = true;
  });
  labels.addEventListener('wheel', (e) => {
    if (!captionOf(e.target)) return;
    e.preventDefault();
    canvas.dispatchEvent(new WheelEvent('wheel', e));
  }, { passive: false });
  function placeCaptions() {
    for (const el of labels.children) {
      let at = null;
      try { at = sp.getScreenPosition(Number(el.dataset.row)); } catch (err) { at = null; }
      if (!at) { el.hidden = true; continue; }
      el.hidden = false;
      el.style.left = `${at[0]}px`;
      el.style.top = `${at[1]}px`;
    }
  }
  sp.subscribe('view', () => placeCaptions());

  function drawLegend(colouring) {
    if (!colouring) { legend.replaceChildren(); return; }
    const title = node('div', 'es-legend-title', colouring.title);
    if (colouring.kind === 'continuous') {
      const stops = RAMP.filter((_, i) => i % 8 === 0 || i === RAMP_SIZE - 1).join(',');
      const bar = node('div', 'es-ramp');
      bar.style.background = `linear-gradient(to right,${stops})`;
      const ends = node('div', 'es-ramp-ends');
      ends.append(node('span', '', colouring.low), node('span', '', colouring.high));
      legend.replaceChildren(title, bar, ends);
      return;
    }
    const items = colouring.names.map((name, code) => {
      const item = node('div', 'es-item');
      const swatch = node('span', 'es-swatch');
      swatch.style.background = colourOf(colouring, code);
      item.append(swatch, document.createTextNode(String(name)));
      if (colouring.counts) {
        item.append(' ', node('span', 'es-n', Number(colouring.counts[code]).toLocaleString('en-US')));
      }
      return item;
    });
    const rings = node('div');
    rings.dataset.role = 'rings';
    legend.replaceChildren(title, ...items, rings);
    drawRingLegend(state.desc);
  }

  // A group's colour: the colouring's own (a binary score names its two), else the palette's.
  function colourOf(colouring, code) {
    if (colouring.noise === code) return NOISE;
    if (colouring.colours && colouring.colours[code]) return colouring.colours[code];
    return PALETTE[code % PALETTE.length];
  }

  // The search's rings, named under the groups while a search is marked on the map.
  function drawRingLegend(desc) {
    const box = legend.querySelector('[data-role=rings]');
    if (!box) return;
    const marks = (desc && desc.marks) || {};
    const items = [];
    const ring = (colour, text) => {
      const item = node('div', 'es-item');
      const mark = node('span', 'es-ring');
      mark.style.borderColor = colour;
      item.append(mark, text);
      return item;
    };
    if (marks.query !== null && marks.query !== undefined) items.push(ring('#d91a1a', 'search query'));
    if ((marks.neighbours || []).length) {
      items.push(ring('#1a1a1a', `its neighbours (${marks.neighbours.length})`));
    }
    box.replaceChildren(...(items.length ? [node('div', 'es-legend-title es-rings-title', 'rings'), ...items] : []));
  }

  function marksChanged(desc) {
    // valueB: highlight (dim the others) and the search's query / neighbours
    const b = state.valueB;
    const hl = desc.highlight;
    if (hl === null || hl === undefined || state.continuous) b.fill(1);
    else for (let i = 0; i < state.n; i++) b[i] = state.valueA[i] === hl ? 1 : 0;
    const marks = desc.marks || {};
    for (const r of marks.neighbours || []) if (r < state.n) b[r] = 2;
    if (marks.query !== null && marks.query !== undefined && marks.query < state.n) b[marks.query] = 3;
  }

  function pointStyle(desc) {
    const n = Math.max(state.n, 1);
    const base = n > 200000 ? 1.5 : n > 50000 ? 2 : n > 5000 ? 3 : 5;
    sp.set({ pointSize: [base, base, base * 3, base * 5] });
  }

  function drawRings(desc) {
    const marks = desc.marks || {};
    const ring = (r, radius, colour) => {
      const cx = state.x[r], cy = state.y[r];
      const vertices = [];
      for (let k = 0; k <= 24; k++) {
        const a = (k / 24) * 2 * Math.PI;
        vertices.push([cx + radius * Math.cos(a), cy + radius * Math.sin(a)]);
      }
      return { vertices, lineColor: colour, lineWidth: 2 };
    };
    const rings = [];
    if (marks.query !== null && marks.query !== undefined && marks.query < state.n) rings.push(ring(marks.query, 0.04, [0.85, 0.1, 0.1, 1]));
    for (const r of (marks.neighbours || []).slice(0, 100)) if (r < state.n) rings.push(ring(r, 0.02, [0.1, 0.1, 0.1, 0.8]));
    sp.drawAnnotations(rings);
  }

  // --- the density overview of a large map ------------------------------------------------
  // One texture drawn under the points across the map's [-1, 1] square (the library's
  // background image, so it pans and zooms with them): each cell in the colour of its group,
  // its intensity growing with its count, blended into the white background. The points fade
  // in over it as the user zooms in, and it fades out; hover, lasso and box work throughout.
  const FADE_LEVELS = 8;
  let densityTex = null;

  function zoomOf() {
    try { return sp.get('camera').scaling[0] || 1; } catch (err) { return 1; }
  }

  function fadeOf() {
    const d = state.desc && state.desc.density;
    if (!d || !state.density) return 1;
    const full = Math.max(1.5, Number(d.full_zoom) || 2);
    return Math.min(1, Math.max(0, Math.log(zoomOf()) / Math.log(full)));
  }

  function densityColours(colouring) {
    if (!colouring) return [hexToRgb(PALETTE[0])];
    if (colouring.kind === 'continuous') return RAMP.map(hexToRgb);
    return colouring.names.map((_, c) => hexToRgb(colourOf(colouring, c)));
  }

  async function loadDensity(desc) {
    const colouring = desc.colourings ? desc.colourings[desc.colour_by] : null;
    const url = colouring && colouring.density_url;
    if (!desc.density || !url) { state.density = null; state.densityKey = null; return; }
    if (state.densityKey === url) return;
    const g = Number(desc.density.grid);
    const raw = await fetchBuffer(url);
    state.density = {
      grid: g, groups: new Uint16Array(raw, 0, g * g), alpha: new Uint8Array(raw, 2 * g * g, g * g),
      colours: densityColours(colouring), continuous: !!colouring && colouring.kind === 'continuous',
    };
    state.densityKey = url;
    state.fadeLevel = -1;
  }

  let painted = null; // what the texture shows: its file, highlight and level
  function paintDensity(level) {
    const d = state.density;
    const hl = state.desc ? state.desc.highlight : null;
    const key = d && level > 0 ? `${state.densityKey}|${hl}|${level}` : null;
    if (key === painted) return; // a redraw that changes neither (marks, captions)
    painted = key;
    if (densityTex) { densityTex.destroy(); densityTex = null; }
    if (!d || level <= 0) { sp.set({ backgroundImage: null }); return; }
    const g = d.grid, rgba = new Uint8Array(g * g * 4).fill(255);
    const dimmed = hl !== null && hl !== undefined && !d.continuous;
    const scale = level / FADE_LEVELS / 255;
    const last = d.colours.length - 1;
    for (let i = 0; i < g * g; i++) {
      const a0 = d.alpha[i];
      if (!a0) continue;
      const code = d.groups[i];
      const rgb = d.continuous ? d.colours[Math.round((code / 255) * last)] : d.colours[Math.min(code, last)];
      const a = a0 * scale * (dimmed && code !== hl ? 0.12 : 1);
      const o = 4 * i;
      rgba[o] = 255 - a * (255 - rgb[0]);
      rgba[o + 1] = 255 - a * (255 - rgb[1]);
      rgba[o + 2] = 255 - a * (255 - rgb[2]);
    }
    const regl = sp.get('renderer').regl;
    densityTex = regl.texture({ data: rgba, width: g, height: g, mag: 'linear', min: 'linear' });
    sp.set({ backgroundImage: densityTex });
  }

  // The points' opacity and the overview's strength for the current zoom.
  function applyFade(force = false) {
    const f = fadeOf();
    const level = state.density ? Math.round((1 - f) * FADE_LEVELS) : 0;
    state.fade = f;
    if (force || level !== state.fadeLevel) {
      state.fadeLevel = level;
      paintDensity(level);
      sp.set({ opacity: OPACITY.map((o, i) => (i < 2 ? o * f : o)) });
      sp.redraw();
    }
  }
  let fadeFrame = 0;
  sp.subscribe('view', () => {
    if (!state.density || fadeFrame) return;
    fadeFrame = requestAnimationFrame(() => { fadeFrame = 0; applyFade(); });
  });

  // The overview drawn before the points are fetched: what the user sees first.
  async function drawOverview(desc) {
    await loadDensity(desc);
    if (!state.density) return;
    sp.reset({ preventEvent: true });
    applyFade(true);
    await sp.drawAnnotations([]);
    state.overviewAt = performance.now();
    state.timings.overview = state.overviewAt;
    if (isShown()) state.timings.visible = state.timings.visible || state.overviewAt;
    count.textContent = `${Number(desc.n).toLocaleString('en-US')} points (density; loading the points…)`;
  }

  async function redraw(desc) {
    const colouring = desc.colourings ? desc.colourings[desc.colour_by] : null;
    const colourKey = colouring ? `${desc.token}:${desc.colour_by}:${colouring.version || 0}` : null;
    if (colourKey !== state.colourKey) {
      state.continuous = !!colouring && colouring.kind === 'continuous';
      if (!colouring) state.valueA = new Float32Array(state.n);
      else if (state.continuous) {
        const raw = new Uint8Array(await fetchBuffer(colouring.url));
        state.valueA = new Float32Array(state.n);
        for (let i = 0; i < state.n; i++) state.valueA[i] = raw[i] / 255;
      } else {
        const raw = new Uint16Array(await fetchBuffer(colouring.url));
        state.valueA = Float32Array.from(raw);
      }
      state.colourKey = colourKey;
      let colours;
      if (!colouring) colours = [PALETTE[0]];
      else if (state.continuous) colours = RAMP;
      else colours = colouring.names.map((_, c) => colourOf(colouring, c));
      if (colours.length < 2) colours = [colours[0], colours[0]];
      sp.set({ colorBy: 'valueA', pointColor: colours });
      drawLegend(colouring);
    }
    marksChanged(desc);
    drawRingLegend(desc);
    pointStyle(desc);
    await loadDensity(desc);
    applyFade(true);
    const selected = rowsOf(state.selected);
    await sp.draw({ x: state.x, y: state.y, valueA: state.valueA, valueB: state.valueB }, {
      zDataType: state.continuous ? 'continuous' : 'categorical', wDataType: 'categorical',
      selected,
    });
    drawRings(desc);
    drawCaptions(desc);
    const note = legend.querySelector('.es-note');
    if (note) note.remove();
    if (desc.captions_note) {
      legend.append(node('div', 'es-note', desc.captions_note));
    }
  }

  async function load(desc) {
    state.ready = false;
    state.error = null;
    if (!desc || !desc.token) {
      state.desc = desc; state.token = null; state.n = 0;
      state.selected = new Uint8Array(0); state.nSelected = 0;
      sp.clear();
      state.density = null;
      state.densityKey = null;
      paintDensity(0);
      labels.replaceChildren();
      empty.textContent = ((desc && desc.message) || 'No map to show.').replace(/[*`]/g, '');
      empty.hidden = false;
      drawLegend(null);
      showCount();
      state.ready = true;
      return;
    }
    empty.hidden = true;
    if (desc.token !== state.token) {
      state.timings.requested = performance.now();
      state.desc = desc;
      if (desc.density) {
        if (state.token) await sp.clear();
        await drawOverview(desc);
        await whenShown();
      } else {
        state.density = null;
        state.densityKey = null;
      }
      const xy = new Float32Array(await fetchBuffer(desc.xy_url));
      state.timings.fetched = performance.now();
      const n = desc.n;
      state.x = xy.subarray(0, n);
      state.y = xy.subarray(n, 2 * n);
      state.n = n;
      state.valueB = new Float32Array(n);
      state.selected = new Uint8Array(n);
      state.nSelected = 0;
      state.token = desc.token;
      state.colourKey = null;
      state.infoCache.clear();
      sp.deselect({ preventEvent: true });
      sp.reset();
    }
    state.desc = desc;
    await redraw(desc);
    if (desc.select && desc.select.nonce !== state.selectNonce) selectGroup(desc.select);
    showCount();
    state.drawnAt = performance.now();
    state.timings.drawn = state.drawnAt;
    if (isShown()) state.timings.visible = state.timings.visible || state.drawnAt;
    state.ready = true;
  }

  function apply(raw) {
    let desc = null;
    try { desc = raw ? (typeof raw === 'string' ? JSON.parse(raw) : raw) : null; } catch (err) { desc = null; }
    // serialise loads: a newer descriptor waits for the one in flight, then wins
    const run = (state.loading || Promise.resolve()).then(() => load(desc)).catch((err) => {
      state.error = String(err);
      empty.textContent = `The map could not be drawn: ${err}`;
      empty.hidden = false;
      state.ready = true;
    });
    state.loading = run;
    return run;
  }

  const api = {
    scatterplot: sp, state,
    // Select the rows inside a rectangle given in map coordinates ([-1, 1], y up); returns
    // how many points are selected afterwards.
    selectBox(x0, y0, x1, y1, op = 'replace') {
      const [a, b] = [Math.min(x0, x1), Math.max(x0, x1)];
      const [c, d] = [Math.min(y0, y1), Math.max(y0, y1)];
      const rows = [];
      for (let i = 0; i < state.n; i++) {
        if (state.x[i] >= a && state.x[i] <= b && state.y[i] >= c && state.y[i] <= d) rows.push(i);
      }
      setSelection(rows, op);
      return state.nSelected;
    },
    selectRows(rows, op = 'replace') { setSelection(rows, op); return state.nSelected; },
    hover(row) { sp.hover(row); },
    setTool, setOp,
    apply,
  };
  root.embedscopeMap = api;
  window.embedscopeMaps = window.embedscopeMaps || [];
  window.embedscopeMaps.push(api);

  watch('value', () => apply(props.value));
  apply(props.value);
  return api;
}
