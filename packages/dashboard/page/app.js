// The dashboard page: reads the server's live stream (/events, server-sent events; message
// shapes in src/messages.ts) and keeps the job lists, the timeline and the event log current.
// Plain DOM and canvas, no framework. What keeps it fast with a thousand jobs and floods of events:
//  - messages only update the page's state; the DOM is written once per animation frame;
//  - each VM's job list renders only the rows in its scroll box (the others cost nothing), and
//    writes only the cells whose text changed;
//  - the timeline is a canvas the size of its scroll box that draws only the lanes in view:
//    the whole canvas is repainted when the clock moves its time range (once a second) or the
//    view moves, otherwise only the rows of changed jobs (timeline.js);
//  - the event log has list items only for the entries in its scroll box (fixed-height lines),
//    and rewrites their text as entries arrive or the box scrolls;
//  - each frame reads every scroll box first and writes after: one layout per frame.

import { setText } from './dom.js';
import { formatBytes, formatEta, formatRate, formatSpeed, formatTime, STATUSES } from './format.js';
import { Timeline } from './timeline.js';

/** Rows rendered beyond each edge of a job list's or the log's scroll box. */
const OVERSCAN = 4;
/** A log entry's height in pixels (app.css gives every entry exactly this). */
const LOG_ENTRY_HEIGHT = 36;
/** A progress bar's value steps (the percentage beside it shows tenths of a per cent). */
const BAR_STEPS = 1000;

const state = {
  /** key → job (a JobRow with the samples and intervals so far); insertion order. */
  jobs: new Map(),
  /** target name → its row group (see targetGroup). */
  targets: new Map(),
  types: new Set(),
  maxSamples: 256,
  /** Status intervals kept per job (the first, and the newest). */
  maxIntervals: 64,
  maxLog: 500,
  /** Server time minus page time, to place "now" on the timeline. */
  clockOffset: 0,
  /** Jobs changed since the last frame. */
  dirty: new Set(),
  /** Which jobs pass the filters, or their order, may have changed. */
  membershipDirty: true,
  /** The event log, oldest first (the newest maxLog). */
  log: [],
  /** Entries added since the last frame: a reader scrolled down keeps their place. */
  logAdded: 0,
  logDirty: false,
  /** The page's own count of log entries: each entry's `seq` (the server's `n` skips under floods). */
  logSeq: 0,
  /** The log's list items, top to bottom (as many as the box shows). */
  logItems: [],
  /** The `seq` of the entry each list item shows. */
  logShown: [],
  /** The data line of the log entry under the pointer (the one with a tooltip), if any. */
  logHover: null,
  frame: 0,
};

const $ = (id) => document.getElementById(id);

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
      state.membershipDirty = true;
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

// ---- row groups (one per VM) -----------------------------------------------------------------

const CELLS = ['id', 'type', 'status', 'progress', 'amount', 'rate', 'eta', 'speed', 'errors'];
const NUMERIC = new Set(['amount', 'rate', 'eta', 'speed', 'errors']);

function targetGroup(name) {
  let group = state.targets.get(name);
  if (group !== undefined) return group;
  const section = document.createElement('section');
  section.className = 'target';
  section.dataset.target = name;
  const h2 = document.createElement('h2');
  const title = document.createElement('span');
  title.textContent = name;
  const badge = document.createElement('span');
  badge.className = 'state';
  const summary = document.createElement('small');
  summary.className = 'summary';
  h2.append(title, ' ', badge, ' ', summary);
  const scroller = document.createElement('div');
  scroller.className = 'rows';
  const table = document.createElement('table');
  table.innerHTML =
    '<thead><tr><th>job</th><th>type</th><th>status</th><th>progress</th><th>done / total</th>' +
    '<th>rate</th><th>ETA</th><th>speed limit</th><th>errors</th></tr></thead>';
  const tbody = document.createElement('tbody');
  const above = spacer();
  const below = spacer();
  tbody.append(above, below);
  table.append(tbody);
  scroller.append(table);
  const empty = document.createElement('p');
  empty.className = 'empty';
  empty.textContent = 'no jobs yet';
  section.append(h2, scroller, empty);
  $('targets').append(section);
  group = {
    name,
    section,
    badge,
    summary,
    scroller,
    tbody,
    above,
    below,
    empty,
    /** Every job key of this target, in arrival order. */
    keys: [],
    /** The keys that pass the filters. */
    shown: [],
    /** key → its rendered row (only rows in or near the scroll box). */
    rows: new Map(),
    /** The [first, end) slice of `shown` rendered at the last frame. */
    first: 0,
    end: 0,
    /** Rendered row height, measured once a row exists. */
    rowHeight: 0,
  };
  scroller.addEventListener('scroll', schedule, { passive: true });
  state.targets.set(name, group);
  return group;
}

function spacer() {
  const tr = document.createElement('tr');
  tr.className = 'spacer';
  const td = document.createElement('td');
  td.colSpan = CELLS.length;
  tr.append(td);
  return tr;
}

function renderTargetState(t) {
  const group = targetGroup(t.name);
  group.badge.dataset.state = t.state;
  setText(group.badge, t.detail === null ? t.state : `${t.state} · ${t.detail}`);
}

function createRow(job) {
  const tr = document.createElement('tr');
  tr.className = 'job';
  tr.dataset.key = job.key;
  tr.dataset.id = job.id;
  for (const name of CELLS) {
    const td = document.createElement('td');
    // The status cell holds the status badge (`.status`): the cell itself is not one.
    td.className = NUMERIC.has(name) ? `${name} num` : name === 'status' ? 'status-cell' : name;
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
  return tr;
}

function fillRow(tr, job) {
  if (tr.dataset.status !== job.status) tr.dataset.status = job.status;
  if (tr.dataset.type !== (job.type ?? '')) tr.dataset.type = job.type ?? '';
  tr.classList.toggle('finished', job.ended !== null);
  const [, typeCell, statusCell, progressCell, amount, rate, eta, speed, errors] = tr.cells;
  setText(typeCell, job.type ?? '?');
  const badge = statusCell.firstChild;
  if (badge.dataset.status !== job.status) badge.dataset.status = job.status;
  let label =
    job.ended !== null && job.outcome !== null ? `${job.status} (${job.outcome})` : job.status;
  if (job.stalled) label += ' · stalled';
  setText(badge, label);
  statusCell.classList.toggle('stalled', job.stalled);
  const bar = progressCell.firstChild;
  // At the percentage's resolution (0.1 %, below a pixel of the bar): a new value lays out the
  // bar again, and a job's fraction moves a little at every poll.
  const shown = Math.floor(job.fraction * BAR_STEPS) / BAR_STEPS;
  if (bar.value !== shown) bar.value = shown;
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

/**
 * Renders the rows of `group` that lie in (or near) its scroll box: rows leaving it are
 * removed, rows entering it are built, rows staying are rewritten only when their job changed.
 */
function renderGroup(group, viewTop, viewHeight) {
  if (group.rowHeight === 0 && group.rows.size > 0) {
    group.rowHeight = group.rows.values().next().value.getBoundingClientRect().height || 0;
  }
  const rowHeight = group.rowHeight || 28;
  const count = group.shown.length;
  const first = Math.max(0, Math.floor(viewTop / rowHeight) - OVERSCAN);
  const end = Math.min(count, Math.ceil((viewTop + viewHeight) / rowHeight) + OVERSCAN);
  const wanted = group.shown.slice(first, end);
  const moved = first !== group.first || end !== group.end || state.membershipDirty;
  if (moved) {
    const keep = new Set(wanted);
    for (const [key, tr] of group.rows) {
      if (!keep.has(key)) {
        tr.remove();
        group.rows.delete(key);
      }
    }
  }
  const ordered = [];
  let created = false;
  for (const key of wanted) {
    const job = state.jobs.get(key);
    let tr = group.rows.get(key);
    if (tr === undefined) {
      tr = createRow(job);
      group.rows.set(key, tr);
      fillRow(tr, job);
      created = true;
    } else if (state.dirty.has(key)) {
      fillRow(tr, job);
    }
    ordered.push(tr);
  }
  if (moved || created) {
    // Moves only rows whose place changed (none while the list just scrolls by a row or two).
    let before = group.below;
    for (let i = ordered.length - 1; i >= 0; i--) {
      const tr = ordered[i];
      if (tr.nextSibling !== before) group.tbody.insertBefore(tr, before);
      before = tr;
    }
    group.above.firstChild.style.height = `${first * rowHeight}px`;
    group.below.firstChild.style.height = `${(count - end) * rowHeight}px`;
    group.first = first;
    group.end = end;
  }
}

function renderSummaries() {
  for (const group of state.targets.values()) {
    let active = 0;
    for (const key of group.keys) if (state.jobs.get(key).ended === null) active++;
    const total = group.keys.length;
    const filtered = group.shown.length === total ? '' : ` · ${group.shown.length} shown`;
    setText(group.summary, total === 0 ? '' : `${total} jobs · ${active} active${filtered}`);
    group.summary.dataset.total = String(total);
    group.summary.dataset.active = String(active);
    // Written only when it changes: any write of `hidden` restyles the element.
    const hidden = group.shown.length > 0;
    if (group.empty.hidden !== hidden) group.empty.hidden = hidden;
    setText(group.empty, total === 0 ? 'no jobs yet' : 'no job matches the filters');
  }
}

// ---- event log -------------------------------------------------------------------------------

function createLogItem() {
  const li = document.createElement('li');
  const head = document.createElement('div');
  const time = document.createElement('time');
  const target = document.createElement('span');
  target.className = 'target';
  const event = document.createElement('span');
  event.className = 'event';
  head.append(time, target, event);
  const data = document.createElement('div');
  data.className = 'data';
  li.append(head, data);
  return li;
}

function fillLogItem(li, entry) {
  if (li.className !== entry.level) li.className = entry.level;
  li.dataset.event = entry.event;
  li.dataset.n = String(entry.n);
  const [head, data] = li.children;
  const [time, target, event] = head.children;
  setText(time, formatTime(entry.time));
  setText(target, state.targets.size > 1 ? entry.target : '');
  setText(event, entry.event);
  setText(data, entry.data);
  // The tooltip (the whole data) is set on the entry under the pointer only: a new `title`
  // restyles its element, and every item shows a new entry at each one that arrives.
  if (data === state.logHover) data.title = entry.data;
  // When the dashboard received the event: lets a bench measure event-to-screen.
  li.dataset.at = String(entry.time);
}

/**
 * Renders the log entries in (or near) its scroll box, newest on top, into a fixed set of list
 * items: item k shows entry `first + k` (0 is the newest), and the list is moved to entry
 * `first`'s place by a transform. A new entry or a scroll rewrites the items' text; no item is
 * inserted or removed while the box keeps its size (an inserted subtree is styled and laid out
 * anew, and the list's order stays newest first for screen readers without moving nodes).
 */
function renderLog(view) {
  const box = $('log-box');
  const log = state.log;
  const count = log.length;
  let top = view.top;
  // New entries go on top: a reader scrolled down is scrolled by as much, so the entries being
  // read stay in place.
  const anchored = state.logAdded > 0 && top > 0;
  if (anchored) top += Math.min(state.logAdded, count) * LOG_ENTRY_HEIGHT;
  state.logAdded = 0;
  state.logDirty = false;
  const first = Math.max(0, Math.floor(top / LOG_ENTRY_HEIGHT) - OVERSCAN);
  const end = Math.min(count, Math.ceil((top + view.height) / LOG_ENTRY_HEIGHT) + OVERSCAN);
  const list = $('log');
  const items = state.logItems;
  const wanted = Math.max(0, end - first);
  // The items exist once: the set grows or shrinks only with the box's view.
  while (items.length < wanted) {
    const li = createLogItem();
    list.append(li);
    items.push(li);
  }
  while (items.length > wanted) items.pop().remove();
  for (let k = 0; k < wanted; k++) {
    const entry = log[count - 1 - (first + k)];
    const li = items[k];
    if (state.logShown[k] !== entry.seq) {
      fillLogItem(li, entry);
      state.logShown[k] = entry.seq;
    }
  }
  state.logShown.length = wanted;
  // Inline styles are written only when they change: any write restyles the element.
  const transform = `translateY(${first * LOG_ENTRY_HEIGHT}px)`;
  if (list.style.transform !== transform) list.style.transform = transform;
  const sizer = $('log-sizer');
  const height = `${count * LOG_ENTRY_HEIGHT}px`;
  if (sizer.style.height !== height) sizer.style.height = height;
  if (anchored) box.scrollTop = top;
  setText($('log-count'), `(latest ${count})`);
}

// ---- the stream ------------------------------------------------------------------------------

function mergeJob(row) {
  const known = state.jobs.get(row.key);
  let samples = row.samples;
  if (known !== undefined) {
    samples = known.samples;
    for (const s of row.samples) samples.push(s);
    if (samples.length > state.maxSamples) {
      // Halve the resolution of the older half, as the server's model does.
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
    intervals = known.intervals;
    while (intervals.length > 0 && intervals[intervals.length - 1][1] >= from) intervals.pop();
    for (const i of row.intervals) intervals.push(i);
  } else if (known !== undefined) {
    intervals = known.intervals;
  }
  if (intervals.length > state.maxIntervals) {
    intervals = [intervals[0], ...intervals.slice(intervals.length - state.maxIntervals + 1)];
  }
  const job = { ...row, samples, intervals };
  state.jobs.set(row.key, job);
  if (known === undefined) {
    targetGroup(row.target).keys.push(row.key);
    state.membershipDirty = true;
  } else if (filters.type !== '' || filters.status !== '') {
    if (passes(known) !== passes(job)) state.membershipDirty = true;
  }
  noteType(row.type);
  state.dirty.add(row.key);
}

function forget(key) {
  const job = state.jobs.get(key);
  if (job === undefined) return;
  state.jobs.delete(key);
  const group = state.targets.get(job.target);
  if (group !== undefined) {
    const i = group.keys.indexOf(key);
    if (i >= 0) group.keys.splice(i, 1);
  }
  state.membershipDirty = true;
}

function schedule() {
  if (state.frame !== 0) return;
  state.frame = requestAnimationFrame(render);
}

const timeline = new Timeline({
  canvas: $('timeline'),
  sizer: $('timeline-sizer'),
  box: $('timeline-box'),
  list: $('timeline-lanes'),
  axisSvg: $('timeline-axis'),
  note: $('timeline-note'),
  clock: () => Date.now() + state.clockOffset,
  onScroll: schedule,
});

/**
 * What a scroll box shows: its scroll offset and height. A box not yet at its maximum height
 * grows with its content this very frame, so it counts as tall as the window.
 */
function viewOf(box) {
  const height = box.scrollHeight > box.clientHeight ? box.clientHeight : window.innerHeight;
  return { top: box.scrollTop, height };
}

function render() {
  state.frame = 0;
  if (state.membershipDirty) {
    for (const group of state.targets.values()) {
      group.shown = group.keys.filter((key) => passes(state.jobs.get(key)));
    }
  }
  // Read every scroll box first, then write: one layout per frame.
  const views = [];
  for (const group of state.targets.values()) views.push([group, viewOf(group.scroller)]);
  const logView = viewOf($('log-box'));
  const timelineView = viewOf($('timeline-box'));
  for (const [group, view] of views) renderGroup(group, view.top, view.height);
  renderSummaries();
  if (state.logDirty) renderLog(logView);
  timeline.render(state.jobs, passes, state.dirty, state.membershipDirty, timelineView);
  state.dirty.clear();
  state.membershipDirty = false;
}

function onMessage(message) {
  state.clockOffset = message.now - Date.now();
  if (message.type === 'hello') {
    state.maxSamples = message.maxSamples;
    state.maxIntervals = message.maxIntervals;
    state.maxLog = message.maxLog;
    for (const key of [...state.jobs.keys()]) forget(key);
    for (const group of state.targets.values()) {
      for (const tr of group.rows.values()) tr.remove();
      group.rows.clear();
    }
    timeline.clear();
    $('log').replaceChildren();
    state.logItems = [];
    state.logShown = [];
    state.log = [];
    state.logAdded = 0;
    state.logDirty = true;
  }
  for (const t of message.targets) renderTargetState(t);
  for (const row of message.jobs) mergeJob(row);
  for (const key of message.removed ?? []) forget(key);
  if (message.log.length > 0) {
    const log = state.log;
    for (const entry of message.log) log.push({ ...entry, seq: ++state.logSeq });
    if (log.length > state.maxLog) log.splice(0, log.length - state.maxLog);
    state.logAdded += message.log.length;
    state.logDirty = true;
  }
  schedule();
}

function connect() {
  const connection = $('connection');
  const source = new EventSource('events');
  source.onopen = () => {
    connection.dataset.state = 'open';
    setText(connection, 'live');
  };
  source.onerror = () => {
    connection.dataset.state = 'closed';
    setText(connection, 'reconnecting…');
  };
  source.onmessage = (event) => onMessage(JSON.parse(event.data));
}

/** Gives the log entry under the pointer its tooltip (see fillLogItem). */
function setupLogTooltips() {
  const box = $('log-box');
  box.addEventListener('pointerover', (event) => {
    const data = event.target instanceof Element ? event.target.closest('#log .data') : null;
    if (data === state.logHover) return;
    state.logHover?.removeAttribute('title');
    state.logHover = data;
    if (data !== null) data.title = data.textContent;
  });
  box.addEventListener('pointerleave', () => {
    state.logHover?.removeAttribute('title');
    state.logHover = null;
  });
}

setupFilters();
setupLogTooltips();
$('log-box').addEventListener(
  'scroll',
  () => {
    state.logDirty = true;
    schedule();
  },
  { passive: true },
);
connect();
// The live end of the timeline moves with the clock, events or not.
setInterval(schedule, 1000);
