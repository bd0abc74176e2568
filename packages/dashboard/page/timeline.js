// The timeline chart: one lane per job (status bands over time, and the progress line), drawn
// in SVG in time coordinates — x is milliseconds since the first job seen, y is pixels — under
// one transform that maps the shown time range onto the chart's width. The chart scrolls in a
// box of its own, and only the lanes in (or near) that box exist: the browser styles, lays out
// and paints a screenful of lanes whether 20 jobs or 1,000 pass the filters. The clock moving
// changes the transform only; a changed job redraws only its own lane, and in it only the bands
// that are new or changed. The band still open in each lane is stretched to "now" as the clock
// moves. The time axis sits above the box (its own SVG), so it stays in view while lanes scroll.

import { formatTime } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
/** Lanes the chart holds at most (the newest jobs that pass the filters); only those in view are drawn. */
const MAX_LANES = 2000;
const LANE_HEIGHT = 20;
const LABEL_WIDTH = 150;
/** Lanes drawn beyond each edge of the scroll box. */
const OVERSCAN = 3;
/** The clock moves the chart this often (ms): each move repaints the lanes in view. */
const RESCALE_EVERY_MS = 1000;

const el = (name, attributes = {}) => {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
};

export class Timeline {
  /**
   * `svg` holds the lanes inside the scroll box `box`; `axisSvg` the time axis above it;
   * `onScroll` is called when the box scrolls (the page schedules a frame).
   */
  constructor({ svg, axisSvg, box, note, clock, onScroll }) {
    this.svg = svg;
    this.axisSvg = axisSvg;
    this.box = box;
    this.note = note;
    this.clock = clock;
    svg.dataset.laneHeight = String(LANE_HEIGHT);
    const defs = el('defs');
    const clip = el('clipPath', { id: 'timeline-clip' });
    this.clipRect = el('rect', { x: LABEL_WIDTH, y: 0, width: 0, height: 0 });
    clip.append(this.clipRect);
    defs.append(clip);
    this.grid = el('g', { class: 'grid' });
    this.labels = el('g', { class: 'labels' });
    const plot = el('g', { class: 'plot', 'clip-path': 'url(#timeline-clip)' });
    this.scaled = el('g', { class: 'scaled' });
    plot.append(this.scaled);
    svg.replaceChildren(defs, this.grid, this.labels, plot);
    /** key → { g, label, bands: Map(interval → its element), open, line, index, … }: lanes in view. */
    this.lanes = new Map();
    /** The jobs that have a lane, in order (a lane out of view is drawn afresh when it comes in). */
    this.shown = [];
    /** key → its index in `shown`. */
    this.indexOf = new Map();
    this.first = 0;
    this.end = 0;
    this.base = undefined;
    this.t0 = 0;
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
    // A band's details as a tooltip, made when the pointer first rests on it.
    svg.addEventListener('pointerover', (event) => {
      const band = event.target.closest?.('.band');
      if (band === null || band === undefined || band.firstChild !== null) return;
      const title = el('title');
      const end = band.dataset.end === '' ? ' –' : ` – ${formatTime(Number(band.dataset.end))}`;
      title.textContent = `${band.dataset.status} ${formatTime(Number(band.dataset.start))}${end}`;
      band.append(title);
    });
  }

  clear() {
    for (const lane of this.lanes.values()) this.dropLane(lane);
    this.lanes.clear();
    this.shown = [];
    this.indexOf.clear();
    this.first = 0;
    this.end = 0;
    this.base = undefined;
    this.needRescale = true;
  }

  /** The scroll box's view, read before any write of the frame. */
  readView() {
    return { top: this.box.scrollTop, height: this.box.clientHeight };
  }

  /**
   * Brings the chart up to date: `dirty` are the keys of jobs changed since the last call,
   * `membershipDirty` says which jobs pass the filters (or which exist) may have changed, `view`
   * is what readView() returned this frame.
   */
  render(jobs, passes, dirty, membershipDirty, view) {
    if (membershipDirty) this.relane(jobs, passes);
    const count = this.shown.length;
    const first = Math.max(0, Math.floor(view.top / LANE_HEIGHT) - OVERSCAN);
    const end = Math.min(count, Math.ceil((view.top + view.height) / LANE_HEIGHT) + OVERSCAN);
    if (membershipDirty || first !== this.first || end !== this.end) {
      this.first = first;
      this.end = end;
      for (const [key, lane] of this.lanes) {
        const index = this.indexOf.get(key);
        if (index === undefined || index < first || index >= end) {
          this.dropLane(lane);
          this.lanes.delete(key);
        }
      }
      for (let index = first; index < end; index++) {
        const job = this.shown[index];
        let lane = this.lanes.get(job.key);
        if (lane === undefined) {
          lane = this.addLane(job);
          this.lanes.set(job.key, lane);
        }
        if (lane.index !== index) {
          lane.index = index;
          const y = index * LANE_HEIGHT;
          lane.g.setAttribute('transform', `translate(0 ${y})`);
          lane.g.dataset.index = String(index);
          lane.label.setAttribute('y', String(y + 13));
        }
      }
    }
    for (const lane of this.lanes.values()) {
      if (!lane.drawn || dirty.has(lane.key)) this.drawLane(lane, jobs.get(lane.key));
    }
    const now = this.clock();
    if (this.needRescale || now - this.lastRescale >= RESCALE_EVERY_MS) this.rescale(now);
  }

  relane(jobs, passes) {
    const passing = [];
    for (const job of jobs.values()) if (passes(job)) passing.push(job);
    const shown = passing.length > MAX_LANES ? passing.slice(-MAX_LANES) : passing;
    this.note.textContent =
      passing.length > shown.length
        ? `(the newest ${shown.length} of ${passing.length}; filter to see others)`
        : `(${passing.length} jobs)`;
    this.indexOf.clear();
    this.t0 = Number.POSITIVE_INFINITY;
    shown.forEach((job, index) => {
      this.base ??= job.firstSeen;
      this.t0 = Math.min(this.t0, job.firstSeen);
      this.indexOf.set(job.key, index);
    });
    if (shown.length !== this.shown.length) this.needRescale = true;
    this.shown = shown;
  }

  addLane(job) {
    const g = el('g', { class: 'lane' });
    g.dataset.key = job.key;
    g.dataset.id = job.id;
    const label = el('text', { x: 4 });
    label.dataset.key = job.key;
    this.labels.append(label);
    this.scaled.append(g);
    return {
      key: job.key,
      g,
      label,
      labelText: '',
      bands: new Map(),
      /** The band of the current status while it lasts: it grows with the clock. */
      open: null,
      line: null,
      /** The samples the line was drawn from: their count and newest time. */
      drawnSamples: '',
      index: -1,
      drawn: false,
    };
  }

  dropLane(lane) {
    lane.g.remove();
    lane.label.remove();
  }

  drawLane(lane, job) {
    lane.drawn = true;
    const text = `${job.id} ${job.type ?? ''}`.slice(0, 22);
    if (lane.labelText !== text) {
      lane.labelText = text;
      lane.label.textContent = text;
      const title = el('title');
      title.textContent = `${job.target}: ${job.id}`;
      lane.label.append(title);
    }
    const base = this.base;
    const now = this.clock();
    lane.open = null;
    // Bands, keyed by their interval (the page keeps an interval's array until an update
    // replaces it): keep the unchanged, stretch the open one, add the new, drop the replaced.
    const stale = new Map(lane.bands);
    for (const interval of job.intervals) {
      const [status, start, end] = interval;
      let band = stale.get(interval);
      stale.delete(interval);
      if (band === undefined) {
        band =
          status === 'null'
            ? el('line', { x1: start - base, x2: start - base, y1: 1, y2: LANE_HEIGHT - 2 })
            : el('rect', { x: start - base, y: 1, height: LANE_HEIGHT - 3 });
        band.classList.add('band');
        band.dataset.status = status;
        band.dataset.start = String(start);
        band.dataset.end = '';
        lane.bands.set(interval, band);
        lane.g.insertBefore(band, lane.line);
      }
      if (status === 'null') continue;
      if (end === null) {
        lane.open = band;
        band.setAttribute('width', String(Math.max(0, now - start)));
      } else if (band.dataset.end !== String(end)) {
        band.dataset.end = String(end);
        band.setAttribute('width', String(Math.max(0, end - start)));
      }
    }
    for (const [interval, band] of stale) {
      band.remove();
      lane.bands.delete(interval);
    }
    const drawnSamples = `${job.samples.length}:${job.samples.at(-1)?.[0]}`;
    if (job.samples.length > 0 && drawnSamples !== lane.drawnSamples) {
      lane.drawnSamples = drawnSamples;
      // The bar's fraction over time: from the bottom (0 %) to the top (100 %) of the lane.
      let fraction = 0;
      const points = job.samples.map(([t, current, total]) => {
        if (total > 0) fraction = Math.max(fraction, Math.min(1, current / total));
        return `${t - base},${(LANE_HEIGHT - 3 - fraction * (LANE_HEIGHT - 5)).toFixed(1)}`;
      });
      if (lane.line === null) {
        lane.line = el('polyline', { class: 'progress-line' });
        lane.g.append(lane.line);
      }
      lane.line.setAttribute('points', points.join(' '));
    }
    // The server time of the message behind this change: lets a bench measure event-to-screen.
    lane.g.dataset.at = String(job.at);
  }

  rescale(now) {
    this.lastRescale = now;
    this.needRescale = false;
    const width = this.width;
    const height = 4 + this.shown.length * LANE_HEIGHT;
    this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    this.svg.setAttribute('height', String(height));
    this.axisSvg.setAttribute('viewBox', `0 0 ${width} 14`);
    this.axisSvg.setAttribute('width', String(width));
    const plotWidth = width - LABEL_WIDTH - 8;
    this.clipRect.setAttribute('width', String(plotWidth));
    this.clipRect.setAttribute('height', String(height));
    if (this.shown.length === 0) {
      this.axisSvg.replaceChildren();
      this.grid.replaceChildren();
      return;
    }
    const t0 = this.t0;
    // The range reaches one rescale period past now: a band or an end that starts before the
    // next rescale is inside it (and shows at once), not cut off at the right edge.
    const t1 = Math.max(now + RESCALE_EVERY_MS, t0 + 1000);
    const scale = plotWidth / (t1 - t0);
    this.scaled.setAttribute(
      'transform',
      `translate(${LABEL_WIDTH - (t0 - this.base) * scale} 0) scale(${scale} 1)`,
    );
    for (const lane of this.lanes.values()) {
      if (lane.open !== null) {
        const start = Number(lane.open.dataset.start);
        lane.open.setAttribute('width', String(Math.max(0, now - start)));
      }
    }
    const x = (t) => (LABEL_WIDTH + (t - t0) * scale).toFixed(1);
    const ticks = [];
    const lines = [];
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) * i) / 4;
      const anchor = i === 0 ? 'start' : i === 4 ? 'end' : 'middle';
      ticks.push(`<text x="${x(t)}" y="11" text-anchor="${anchor}">${formatTime(t)}</text>`);
      lines.push(`<line x1="${x(t)}" x2="${x(t)}" y1="0" y2="${height}"/>`);
    }
    this.axisSvg.innerHTML = ticks.join('');
    this.grid.innerHTML = lines.join('');
  }
}
