// The timeline chart: one lane per job (status bands over time, and the progress line), drawn on
// a canvas the size of its scroll box. Only the lanes in view are drawn; the scroll box holds a
// sizer as tall as every lane, and the canvas sticks to the top of the box's view. The canvas is
// repainted whole when the clock moves the time range (every RESCALE_EVERY_MS), when the view
// scrolls or resizes, or when the lanes change; otherwise only the rows of the lanes whose job
// changed are repainted. The time axis sits above the box (an SVG of its own).
//
// What the chart shows is also written, for the lanes in view, into a visually hidden list
// (`#timeline-lanes`, one item per lane, one element per band; see the README's "The timeline's
// page contract"): screen readers read it, and tests read it instead of pixels.

import { setText } from './dom.js';
import { formatTime, STATUSES } from './format.js';

/** Lanes the chart holds at most (the newest jobs that pass the filters); only those in view are drawn. */
const MAX_LANES = 2000;
const LANE_HEIGHT = 20;
const LABEL_WIDTH = 150;
/** The clock moves the chart this often (ms): each move repaints the lanes in view. */
const RESCALE_EVERY_MS = 1000;
/** Bands are drawn in their status's colour at this opacity over the white of the chart. */
const BAND_OPACITY = 0.55;
const TICKS = 4;
/** The progress line's vertical resolution (CSS px): finer than its 1.5 px width shows. */
const LINE_STEP = 0.25;

export class Timeline {
  /**
   * `canvas` sits in `sizer` inside the scroll box `box`; `list` is the hidden list of the lanes
   * in view; `axisSvg` the time axis above the box; `onScroll` is called when the box scrolls or
   * resizes (the page schedules a frame).
   */
  constructor({ canvas, sizer, box, list, axisSvg, note, clock, onScroll }) {
    this.canvas = canvas;
    this.sizer = sizer;
    this.box = box;
    this.list = list;
    this.axisSvg = axisSvg;
    this.note = note;
    this.clock = clock;
    this.context = canvas.getContext('2d', { alpha: false });
    list.dataset.laneHeight = String(LANE_HEIGHT);
    canvas.dataset.laneHeight = String(LANE_HEIGHT);
    canvas.dataset.bandOpacity = String(BAND_OPACITY);
    const style = getComputedStyle(document.documentElement);
    const colour = (name) => style.getPropertyValue(name).trim();
    /** status → its colour (the legend's). */
    this.colours = new Map(STATUSES.map((s) => [s, colour(`--${s}`) || '#888']));
    this.ink = colour('--fg') || '#000';
    this.muted = colour('--muted') || '#666';
    this.gridColour = colour('--line') || '#ddd';
    this.font = `11px ${getComputedStyle(canvas).fontFamily || 'sans-serif'}`;
    /** The keys of the jobs that have a lane, in order. */
    this.shown = [];
    /** key → job, as of the last render. */
    this.jobs = new Map();
    /** key → its index in `shown`. */
    this.indexOf = new Map();
    /** key → its item in the hidden list (lanes in view only). */
    this.items = new Map();
    /** An item → its label and its band elements by status and start. */
    this.itemState = new WeakMap();
    this.first = 0;
    this.end = 0;
    this.t0 = 0;
    this.t1 = 1;
    /** The size the canvas was drawn at: CSS pixels and device pixels per CSS pixel. */
    this.drawn = { width: 0, height: 0, ratio: 0, top: -1 };
    this.width = Math.max(400, box.clientWidth || 800);
    this.lastRescale = Number.NEGATIVE_INFINITY;
    this.needRescale = true;
    new ResizeObserver(([entry]) => {
      const width = Math.max(400, Math.round(entry.contentRect.width));
      if (width !== this.width) {
        this.width = width;
        this.needRescale = true;
        onScroll();
      }
    }).observe(box);
    box.addEventListener('scroll', onScroll, { passive: true });
    // A band's (or a label's) details as the canvas's tooltip, for what the pointer is over.
    canvas.addEventListener('pointermove', (event) => {
      const title = this.describeAt(event.offsetX, event.offsetY);
      if (canvas.title !== title) canvas.title = title;
    });
  }

  clear() {
    this.list.replaceChildren();
    this.items.clear();
    this.shown = [];
    this.indexOf.clear();
    this.first = 0;
    this.end = 0;
    this.needRescale = true;
  }

  /** The scroll box's view, read before any write of the frame. */
  readView() {
    return { top: this.box.scrollTop, height: this.box.clientHeight };
  }

  /**
   * Brings the chart up to date: `dirty` are the keys of jobs changed since the last call,
   * `membershipDirty` says which jobs pass the filters (or which exist) may have changed, `view`
   * is the box's scroll offset and height, read this frame before any write.
   */
  render(jobs, passes, dirty, membershipDirty, view) {
    this.jobs = jobs;
    if (membershipDirty) this.relane(jobs, passes);
    const count = this.shown.length;
    const total = 4 + count * LANE_HEIGHT;
    const height = Math.max(1, Math.min(total, Math.round(view.height)));
    // The canvas sticks to the top of the view, except that it cannot leave the sizer.
    const top = Math.max(0, Math.min(Math.round(view.top), total - height));
    const first = Math.floor(top / LANE_HEIGHT);
    const end = Math.min(count, Math.ceil((top + height) / LANE_HEIGHT));
    const ratio = window.devicePixelRatio || 1;
    const drawn = this.drawn;
    let whole = membershipDirty || first !== this.first || end !== this.end;
    if (drawn.width !== this.width || drawn.height !== height || drawn.ratio !== ratio) {
      this.sizer.style.height = `${total}px`;
      this.canvas.width = Math.round(this.width * ratio);
      this.canvas.height = Math.round(height * ratio);
      this.canvas.style.width = `${this.width}px`;
      this.canvas.style.height = `${height}px`;
      this.context.setTransform(ratio, 0, 0, ratio, 0, 0);
      Object.assign(drawn, { width: this.width, height, ratio });
      whole = true;
    } else if (membershipDirty) {
      this.sizer.style.height = `${total}px`;
    }
    if (top !== drawn.top) whole = true;
    drawn.top = top;
    this.first = first;
    this.end = end;
    const now = this.clock();
    if (this.needRescale || now - this.lastRescale >= RESCALE_EVERY_MS) {
      this.rescale(now);
      whole = true;
    }
    this.renderList(jobs, dirty, whole);
    if (whole) {
      const context = this.context;
      context.fillStyle = '#fff';
      context.fillRect(0, 0, this.width, height);
      for (let index = first; index < end; index++) this.drawLane(index, now);
    } else {
      for (const key of dirty) {
        const index = this.indexOf.get(key);
        if (index !== undefined && index >= first && index < end) this.drawLane(index, now);
      }
    }
  }

  relane(jobs, passes) {
    const passing = [];
    for (const job of jobs.values()) if (passes(job)) passing.push(job);
    const shown = passing.length > MAX_LANES ? passing.slice(-MAX_LANES) : passing;
    setText(
      this.note,
      passing.length > shown.length
        ? `(the newest ${shown.length} of ${passing.length}; filter to see others)`
        : `(${passing.length} jobs)`,
    );
    this.indexOf.clear();
    if (shown.length !== this.shown.length) this.needRescale = true;
    this.shown = shown.map((job) => job.key);
    for (const [index, key] of this.shown.entries()) this.indexOf.set(key, index);
  }

  /** The time range: from the first job shown to one rescale period past now. */
  rescale(now) {
    this.lastRescale = now;
    this.needRescale = false;
    let t0 = Number.POSITIVE_INFINITY;
    for (const key of this.shown) t0 = Math.min(t0, this.jobs.get(key).firstSeen);
    if (!Number.isFinite(t0)) t0 = now;
    this.t0 = t0;
    // A band or an end that starts before the next rescale is inside the range (and shows at
    // once), not cut off at the right edge.
    this.t1 = Math.max(now + RESCALE_EVERY_MS, t0 + 1000);
    const width = this.width;
    this.axisSvg.setAttribute('viewBox', `0 0 ${width} 14`);
    this.axisSvg.setAttribute('width', String(width));
    if (this.shown.length === 0) {
      this.axisSvg.replaceChildren();
      return;
    }
    // The tick labels are made once and then only moved and rewritten.
    if (this.axisSvg.childElementCount !== TICKS + 1) {
      const labels = [];
      for (let i = 0; i <= TICKS; i++) {
        const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
        label.setAttribute('y', '11');
        label.setAttribute('text-anchor', i === 0 ? 'start' : i === TICKS ? 'end' : 'middle');
        labels.push(label);
      }
      this.axisSvg.replaceChildren(...labels);
    }
    for (let i = 0; i <= TICKS; i++) {
      const t = this.timeAtTick(i);
      const label = this.axisSvg.children[i];
      const x = this.x(t).toFixed(1);
      if (label.getAttribute('x') !== x) label.setAttribute('x', x);
      setText(label, formatTime(t));
    }
  }

  timeAtTick(i) {
    return this.t0 + ((this.t1 - this.t0) * i) / TICKS;
  }

  plotWidth() {
    return this.width - LABEL_WIDTH - 8;
  }

  /** The x (CSS pixels) of time `t`. */
  x(t) {
    return LABEL_WIDTH + ((t - this.t0) * this.plotWidth()) / (this.t1 - this.t0);
  }

  /** Paints lane `index`'s row: background, grid, label, bands, progress line. */
  drawLane(index, now) {
    const job = this.jobs.get(this.shown[index]);
    const context = this.context;
    const y = index * LANE_HEIGHT - this.drawn.top;
    const right = LABEL_WIDTH + this.plotWidth();
    context.fillStyle = '#fff';
    context.fillRect(0, y, this.width, LANE_HEIGHT);
    context.fillStyle = this.gridColour;
    for (let i = 0; i <= TICKS; i++) {
      context.fillRect(Math.round(this.x(this.timeAtTick(i))), y, 1, LANE_HEIGHT);
    }
    context.fillStyle = this.ink;
    context.font = this.font;
    context.textBaseline = 'alphabetic';
    context.fillText(`${job.id} ${job.type ?? ''}`.slice(0, 22), 4, y + 13, LABEL_WIDTH - 8);
    context.save();
    context.beginPath();
    context.rect(LABEL_WIDTH, y, right - LABEL_WIDTH, LANE_HEIGHT);
    context.clip();
    for (const [status, start, end] of job.intervals) {
      const colour = this.colours.get(status) ?? '#888';
      const x0 = this.x(start);
      if (status === 'null') {
        context.fillStyle = colour;
        context.fillRect(Math.round(x0) - 1, y + 1, 2, LANE_HEIGHT - 3);
        continue;
      }
      const x1 = this.x(Math.min(end ?? now, this.t1));
      if (x1 <= x0) continue;
      context.globalAlpha = BAND_OPACITY;
      context.fillStyle = colour;
      context.fillRect(x0, y + 1, x1 - x0, LANE_HEIGHT - 3);
      context.globalAlpha = 1;
    }
    const samples = job.samples;
    if (samples.length > 0) {
      // The bar's fraction over time: from the bottom (0 %) to the top (100 %) of the lane, at
      // the canvas's resolution. A run of samples at one height (to LINE_STEP px) is one
      // horizontal segment: only its first and last points are drawn, so a slow job's hundreds
      // of samples cost a few points (the line looks the same).
      const bottom = y + LANE_HEIGHT - 3;
      const span = LANE_HEIGHT - 5;
      const heightOf = (fraction) => Math.round((fraction * span) / LINE_STEP) * LINE_STEP;
      let fraction = 0;
      let level = -1;
      let runEnd = -1;
      context.beginPath();
      for (let i = 0; i < samples.length; i++) {
        const [t, current, total] = samples[i];
        if (total > 0) fraction = Math.max(fraction, Math.min(1, current / total));
        const h = heightOf(fraction);
        if (h === level && i < samples.length - 1) {
          runEnd = t;
          continue;
        }
        if (runEnd >= 0) context.lineTo(this.x(runEnd), bottom - level);
        runEnd = -1;
        if (level < 0) context.moveTo(this.x(t), bottom - h);
        else context.lineTo(this.x(t), bottom - h);
        level = h;
      }
      context.strokeStyle = this.ink;
      context.lineWidth = 1.5;
      context.stroke();
    }
    context.restore();
  }

  /**
   * The hidden list: one item per lane in view, in lane order. An item is rewritten only when its
   * job changed (or it comes into view); `whole` says the lanes in view may have changed.
   */
  renderList(jobs, dirty, whole) {
    const items = this.items;
    if (whole) {
      for (const [key, li] of items) {
        const index = this.indexOf.get(key);
        if (index === undefined || index < this.first || index >= this.end) {
          li.remove();
          items.delete(key);
        }
      }
    }
    let before = null;
    for (let index = this.end - 1; index >= this.first; index--) {
      const key = this.shown[index];
      let li = items.get(key);
      let created = false;
      if (li === undefined) {
        li = document.createElement('li');
        li.dataset.key = key;
        items.set(key, li);
        created = true;
      }
      if (created || dirty.has(key)) this.fillItem(li, jobs.get(key));
      if (li.dataset.index !== String(index)) li.dataset.index = String(index);
      const placed = li.parentNode === this.list && li.nextSibling === before;
      if ((whole || created) && !placed) this.list.insertBefore(li, before);
      before = li;
    }
  }

  /**
   * Writes lane item `li` for `job`, changing only what changed: a band's element is kept while
   * its interval is (by status and start), its end written when it closes; new bands are
   * appended (an update replaces the newest intervals only), dropped ones removed.
   */
  fillItem(li, job) {
    let item = this.itemState.get(li);
    if (item === undefined) {
      const label = document.createElement('span');
      li.append(label);
      item = { label, bands: new Map() };
      this.itemState.set(li, item);
    }
    if (li.dataset.id !== job.id) li.dataset.id = job.id;
    let fraction = 0;
    for (const [, current, total] of job.samples) {
      if (total > 0) fraction = Math.max(fraction, Math.min(1, current / total));
    }
    if (li.dataset.progress !== String(fraction)) li.dataset.progress = String(fraction);
    const text = `${job.target}: ${job.id} ${job.type ?? ''}, progress ${(fraction * 100).toFixed(0)} %:`;
    setText(item.label, text);
    const stale = new Map(item.bands);
    // Two intervals of one status can start in the same millisecond (a drained job's flapping):
    // the second of them is told apart by its place among those.
    const seen = new Map();
    for (const [status, start, end] of job.intervals) {
      let name = `${status}@${start}`;
      const repeat = seen.get(name) ?? 0;
      seen.set(name, repeat + 1);
      if (repeat > 0) name += `#${repeat}`;
      let band = stale.get(name);
      stale.delete(name);
      if (band === undefined) {
        band = document.createElement('span');
        band.dataset.status = status;
        band.dataset.start = String(start);
        band.dataset.end = '';
        item.bands.set(name, band);
        li.append(band);
        band.textContent = ` ${status} ${formatTime(start)}${status === 'null' ? '' : ' – now'};`;
      }
      if (end !== null && status !== 'null' && band.dataset.end !== String(end)) {
        band.dataset.end = String(end);
        setText(band, ` ${status} ${formatTime(start)} – ${formatTime(end)};`);
      }
    }
    for (const [name, band] of stale) {
      band.remove();
      item.bands.delete(name);
    }
    // The server time of the message behind this change: lets a bench measure event-to-screen.
    li.dataset.at = String(job.at);
  }

  /** What the chart shows at (x, y) in the canvas (CSS pixels): for the tooltip. */
  describeAt(x, y) {
    const job = this.jobs.get(this.shown[Math.floor((y + this.drawn.top) / LANE_HEIGHT)]);
    if (job === undefined) return '';
    if (x < LABEL_WIDTH) return `${job.target}: ${job.id}`;
    const t = this.t0 + ((x - LABEL_WIDTH) * (this.t1 - this.t0)) / this.plotWidth();
    for (const [status, start, end] of job.intervals) {
      if (status !== 'null' && t >= start && (end === null || t < end)) {
        return `${status} ${formatTime(start)}${end === null ? ' –' : ` – ${formatTime(end)}`}`;
      }
    }
    return '';
  }
}
