// The dashboard page: reads the server's live stream (/events, server-sent events; message
// shapes in src/messages.ts) and keeps the job tables, the timeline and the event log current.
// Plain DOM and SVG, no framework: rows are keyed and updated in place, at most once per frame;
// the timeline is redrawn at most twice a second.

const STATUSES = [
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
  'null',
];
const ACTIVE = new Set([
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
]);
/** Lanes drawn in the timeline at most (the newest jobs that pass the filters). */
const MAX_LANES = 200;
/** Status intervals kept per job (the first, and the newest). */
const MAX_INTERVALS = 256;
const LANE_HEIGHT = 20;
const LABEL_WIDTH = 150;
/** The timeline is redrawn at most this often (the rows update at every frame). */
const TIMELINE_EVERY_MS = 1000;

const state = {
  /** key → job (JobRow with all samples so far). */
  jobs: new Map(),
  /** target name → { state, detail, section, tbody } */
  targets: new Map(),
  types: new Set(),
  maxSamples: 256,
  maxLog: 500,
  /** Server time minus page time, to place "now" on the timeline. */
  clockOffset: 0,
  /** key → its table row. */
  rows: new Map(),
  dirtyRows: new Set(),
  timelineDirty: true,
  frame: 0,
  lastTimeline: 0,
  timelineTimer: false,
};

const $ = (id) => document.getElementById(id);

// ---- formatting ------------------------------------------------------------------------------

function formatBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

function formatRate(n) {
  return n === null || n === undefined ? '–' : `${formatBytes(n)}/s`;
}

function formatEta(ms, job) {
  if (!ACTIVE.has(job.status)) return '';
  if (ms === null || ms === undefined) return job.status === 'ready' ? 'in sync?' : '–';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

function formatTime(ms) {
  // By hand: toLocaleTimeString costs far more, and the timeline formats hundreds per redraw.
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function formatSpeed(n) {
  if (n === null || n === undefined) return '–';
  return n === 0 ? 'unlimited' : formatRate(n);
}

// ---- filters ---------------------------------------------------------------------------------

/** The filter values, read once per change (not once per job). */
const filters = { type: '', status: '' };

function passes(job) {
  const { type, status } = filters;
  if (type !== '' && job.type !== type) return false;
  if (status === '') return true;
  if (status === 'active') return job.ended === null;
  if (status === 'finished') return job.ended !== null;
  return job.status === status;
}

function setupFilters() {
  const statusSelect = $('filter-status');
  for (const s of STATUSES) statusSelect.append(new Option(s, s));
  for (const select of [$('filter-type'), statusSelect]) {
    select.addEventListener('change', () => {
      filters.type = $('filter-type').value;
      filters.status = statusSelect.value;
      for (const key of state.jobs.keys()) state.dirtyRows.add(key);
      state.timelineDirty = true;
      schedule();
    });
  }
  const legend = $('legend');
  for (const s of STATUSES) {
    const item = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.dataset.status = s;
    item.append(swatch, s);
    legend.append(item);
  }
  const line = document.createElement('span');
  line.textContent = '— progress';
  legend.append(line);
}

function noteType(type) {
  if (type === null || state.types.has(type)) return;
  state.types.add(type);
  $('filter-type').append(new Option(type, type));
}

// ---- targets and rows ------------------------------------------------------------------------

function targetSection(name) {
  let target = state.targets.get(name);
  if (target !== undefined) return target;
  const section = document.createElement('section');
  section.className = 'target';
  section.dataset.target = name;
  const h2 = document.createElement('h2');
  const title = document.createElement('span');
  title.textContent = name;
  const badge = document.createElement('span');
  badge.className = 'state';
  h2.append(title, ' ', badge);
  const table = document.createElement('table');
  table.innerHTML =
    '<thead><tr><th>job</th><th>type</th><th>status</th><th>progress</th><th>done / total</th>' +
    '<th>rate</th><th>ETA</th><th>speed limit</th><th>errors</th></tr></thead>';
  const tbody = document.createElement('tbody');
  table.append(tbody);
  const empty = document.createElement('p');
  empty.className = 'empty';
  empty.textContent = 'no jobs yet';
  section.append(h2, table, empty);
  $('targets').append(section);
  target = { section, badge, tbody, empty };
  state.targets.set(name, target);
  return target;
}

function renderTarget(t) {
  const target = targetSection(t.name);
  target.badge.dataset.state = t.state;
  target.badge.textContent = t.detail === null ? t.state : `${t.state} · ${t.detail}`;
}

const CELLS = ['id', 'type', 'status', 'progress', 'amount', 'rate', 'eta', 'speed', 'errors'];

function createRow(job) {
  const tr = document.createElement('tr');
  tr.className = 'job';
  tr.dataset.key = job.key;
  tr.dataset.id = job.id;
  for (const name of CELLS) {
    const td = document.createElement('td');
    td.className = name;
    if (['amount', 'rate', 'eta', 'speed', 'errors'].includes(name)) td.classList.add('num');
    tr.append(td);
  }
  const status = document.createElement('span');
  status.className = 'status';
  tr.cells[2].append(status);
  const bar = document.createElement('progress');
  bar.max = 1;
  const pct = document.createElement('span');
  pct.className = 'pct';
  tr.cells[3].append(bar, pct);
  tr.cells[0].textContent = job.id;
  targetSection(job.target).tbody.append(tr);
  return tr;
}

/** Writes only what changed: an unchanged text costs the browser nothing. */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function renderRow(key) {
  const job = state.jobs.get(key);
  let tr = state.rows.get(key);
  if (job === undefined) {
    tr?.remove();
    state.rows.delete(key);
    return;
  }
  if (tr === undefined) {
    tr = createRow(job);
    state.rows.set(key, tr);
  }
  const hidden = !passes(job);
  if (tr.hidden !== hidden) tr.hidden = hidden;
  if (tr.dataset.status !== job.status) tr.dataset.status = job.status;
  if (tr.dataset.type !== (job.type ?? '')) tr.dataset.type = job.type ?? '';
  tr.classList.toggle('finished', job.ended !== null);
  const [, typeCell, statusCell, progressCell, amount, rate, eta, speed, errors] = tr.cells;
  setText(typeCell, job.type ?? '?');
  const badge = statusCell.firstChild;
  badge.dataset.status = job.status;
  let label =
    job.ended !== null && job.outcome !== null ? `${job.status} (${job.outcome})` : job.status;
  if (job.stalled) label += ' · stalled';
  setText(badge, label);
  statusCell.classList.toggle('stalled', job.stalled);
  const bar = progressCell.firstChild;
  if (bar.value !== job.fraction) bar.value = job.fraction;
  setText(progressCell.lastChild, job.total > 0 ? `${(job.fraction * 100).toFixed(1)} %` : '–');
  setText(amount, `${formatBytes(job.current)} / ${formatBytes(job.total)}`);
  setText(rate, job.ended === null ? formatRate(job.rate) : '');
  setText(eta, formatEta(job.etaMs, job));
  setText(speed, formatSpeed(job.speed));
  setText(errors, job.errorCount > 0 ? String(job.errorCount) : '');
  if (errors.title !== (job.error ?? '')) errors.title = job.error ?? '';
  errors.classList.toggle('error-text', job.errorCount > 0);
  // The server time of the message behind this change: lets a bench measure event-to-screen.
  tr.dataset.at = String(job.at);
}

// ---- timeline --------------------------------------------------------------------------------

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeXml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

function renderTimeline() {
  const chart = $('timeline');
  const jobs = [];
  for (const job of state.jobs.values()) if (passes(job)) jobs.push(job);
  const shown = jobs.slice(-MAX_LANES);
  $('timeline-note').textContent =
    jobs.length > shown.length
      ? `(the newest ${shown.length} of ${jobs.length}; filter to see others)`
      : `(${jobs.length} jobs)`;
  const width = Math.max(400, chart.clientWidth || 800);
  const height = 24 + shown.length * LANE_HEIGHT;
  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  chart.setAttribute('height', String(height));
  if (shown.length === 0) {
    chart.replaceChildren();
    return;
  }
  const now = Date.now() + state.clockOffset;
  let t0 = Number.POSITIVE_INFINITY;
  for (const job of shown) t0 = Math.min(t0, job.firstSeen);
  const t1 = Math.max(now, t0 + 1000);
  const plotWidth = width - LABEL_WIDTH - 8;
  const x = (t) => (LABEL_WIDTH + ((t - t0) / (t1 - t0)) * plotWidth).toFixed(1);
  // One string, parsed once: far cheaper than an element per call for hundreds of lanes.
  const parts = ['<g class="axis">'];
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    const anchor = i === 0 ? 'start' : i === 4 ? 'end' : 'middle';
    parts.push(
      `<line x1="${x(t)}" x2="${x(t)}" y1="14" y2="${height}"/>`,
      `<text x="${x(t)}" y="11" text-anchor="${anchor}">${formatTime(t)}</text>`,
    );
  }
  parts.push('</g>');
  shown.forEach((job, lane) => {
    const y = 20 + lane * LANE_HEIGHT;
    parts.push(
      `<g class="lane" data-key="${escapeXml(job.key)}" data-id="${escapeXml(job.id)}">`,
      `<text x="4" y="${y + 13}">${escapeXml(`${job.id} ${job.type ?? ''}`.slice(0, 22))}<title>${escapeXml(`${job.target}: ${job.id}`)}</title></text>`,
    );
    for (const [status, start, end] of job.intervals) {
      const x1 = Number(x(start));
      const x2 = status === 'null' ? x1 + 2 : Number(x(end ?? now));
      const span = `${status} ${formatTime(start)}${end === null ? ' –' : ` – ${formatTime(end)}`}`;
      parts.push(
        `<rect class="band" data-status="${escapeXml(status)}" x="${x1}" y="${y + 1}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${LANE_HEIGHT - 3}"><title>${escapeXml(span)}</title></rect>`,
      );
    }
    if (job.samples.length > 0) {
      // The bar's fraction over time: from the bottom (0 %) to the top (100 %) of the lane.
      let fraction = 0;
      const points = job.samples.map(([t, current, total]) => {
        if (total > 0) fraction = Math.max(fraction, Math.min(1, current / total));
        return `${x(t)},${(y + LANE_HEIGHT - 3 - fraction * (LANE_HEIGHT - 5)).toFixed(1)}`;
      });
      parts.push(`<polyline class="progress-line" points="${points.join(' ')}"/>`);
    }
    parts.push('</g>');
  });
  chart.innerHTML = parts.join('');
}

// ---- event log -------------------------------------------------------------------------------

function addLog(entries) {
  const list = $('log');
  const fragment = document.createDocumentFragment();
  for (const entry of entries) {
    const li = document.createElement('li');
    li.className = entry.level;
    li.dataset.event = entry.event;
    li.dataset.n = String(entry.n);
    const time = document.createElement('time');
    time.textContent = formatTime(entry.time);
    const target = document.createElement('span');
    target.className = 'target';
    target.textContent = state.targets.size > 1 ? entry.target : '';
    const event = document.createElement('span');
    event.className = 'event';
    event.textContent = entry.event;
    const data = document.createElement('span');
    data.className = 'data';
    data.textContent = entry.data;
    li.append(time, target, event, data);
    fragment.prepend(li);
  }
  list.prepend(fragment);
  while (list.childElementCount > state.maxLog) list.lastElementChild.remove();
  $('log-count').textContent = `(latest ${list.childElementCount})`;
}

// ---- the stream ------------------------------------------------------------------------------

function mergeJob(row) {
  const known = state.jobs.get(row.key);
  let samples = row.samples;
  if (known !== undefined) {
    samples = known.samples.concat(row.samples);
    if (samples.length > state.maxSamples) {
      const half = Math.floor(samples.length / 2);
      samples = samples
        .slice(0, half)
        .filter((_, i) => i % 2 === 0)
        .concat(samples.slice(half));
    }
  }
  let intervals = row.intervals;
  if (known !== undefined && row.intervals.length > 0) {
    // The update holds the intervals from the last one sent before: replace ours from there.
    const from = row.intervals[0][1];
    intervals = known.intervals.filter((i) => i[1] < from).concat(row.intervals);
    if (intervals.length > MAX_INTERVALS) {
      intervals = [intervals[0], ...intervals.slice(intervals.length - MAX_INTERVALS + 1)];
    }
  } else if (known !== undefined) {
    intervals = known.intervals;
  }
  state.jobs.set(row.key, { ...row, samples, intervals });
  noteType(row.type);
  state.dirtyRows.add(row.key);
}

function schedule() {
  if (state.frame !== 0) return;
  state.frame = requestAnimationFrame(render);
}

function render() {
  state.frame = 0;
  for (const key of state.dirtyRows) renderRow(key);
  state.dirtyRows.clear();
  for (const target of state.targets.values()) {
    const rows = target.tbody.rows;
    let visible = false;
    for (const row of rows) if (!row.hidden) visible = true;
    target.empty.hidden = visible;
    target.empty.textContent = rows.length === 0 ? 'no jobs yet' : 'no job matches the filters';
  }
  const since = performance.now() - state.lastTimeline;
  if (state.timelineDirty && since >= TIMELINE_EVERY_MS) {
    state.lastTimeline = performance.now();
    state.timelineDirty = false;
    renderTimeline();
  } else if (state.timelineDirty && !state.timelineTimer) {
    state.timelineTimer = true;
    setTimeout(() => {
      state.timelineTimer = false;
      schedule();
    }, TIMELINE_EVERY_MS - since);
  }
}

function onMessage(message) {
  state.clockOffset = message.now - Date.now();
  if (message.type === 'hello') {
    state.jobs.clear();
    state.maxSamples = message.maxSamples;
    state.maxLog = message.maxLog;
    for (const tr of state.rows.values()) tr.remove();
    state.rows.clear();
    $('log').replaceChildren();
  }
  for (const t of message.targets) renderTarget(t);
  for (const row of message.jobs) mergeJob(row);
  for (const key of message.removed ?? []) {
    state.jobs.delete(key);
    state.dirtyRows.add(key);
  }
  if (message.log.length > 0) addLog(message.log);
  state.timelineDirty = true;
  schedule();
}

function connect() {
  const connection = $('connection');
  const source = new EventSource('events');
  source.onopen = () => {
    connection.dataset.state = 'open';
    connection.textContent = 'live';
  };
  source.onerror = () => {
    connection.dataset.state = 'closed';
    connection.textContent = 'reconnecting…';
  };
  source.onmessage = (event) => onMessage(JSON.parse(event.data));
}

setupFilters();
connect();
// The live end of the timeline moves with the clock.
setInterval(() => {
  state.timelineDirty = true;
  schedule();
}, 1000);
