/// <reference lib="dom" />
// `qmpkit dashboard` end to end, in a real browser (Debian's chromium via playwright-core),
// against a real qemu-storage-daemon and against qmpkit-server: what a person watching the page
// sees while a mirror runs to ready and completes, while a job fails on an injected I/O error,
// and while 200 jobs run at once. The expected statuses are QEMU's: the JOB_STATUS_CHANGE events
// the test's own client receives on the target's other monitor.

import type { JobStatus } from '@qmpkit/client';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, test } from 'vitest';
import { requireQemu } from '../src/daemon.js';
import { type QemuInstall, qemuForTests } from '../src/qemu-binaries.js';
import {
  type Browser,
  type DashboardProcess,
  runCleanup,
  screenshot,
  startBrowser,
  startDashboardCli,
} from './browser-harness.js';
import { freePort, startTarget, type Target, type TargetName } from './cli-harness.js';

requireQemu();

const MiB = 1024 * 1024;
const qemu10 = qemuForTests('10.0');
/** What the page is tested against: QEMU 7.2 (installed), QEMU 10.0 (when present), qmpkit-server. */
const TARGETS: ReadonlyArray<{ label: string; name: TargetName; qemu?: QemuInstall }> = [
  { label: 'qemu', name: 'qemu' },
  ...(qemu10 === undefined ? [] : [{ label: 'qemu-10.0', name: 'qemu' as const, qemu: qemu10 }]),
  { label: 'qmpkit-server', name: 'qmpkit-server' },
];

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  // Browser first, then the dashboard, then the QMP servers: every step, even after one fails.
  await runCleanup(cleanup);
});

async function setUp(which: (typeof TARGETS)[number], blockdevs: readonly string[]) {
  const target = await startTarget(which.name, blockdevs, [], which.qemu);
  cleanup.push(() => target.stop());
  const dashboard = await startDashboardCli([target.cliSocket], ['--interval', '200']);
  cleanup.push(() => dashboard.stop());
  const browser = await startBrowser();
  cleanup.push(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(dashboard.url);
  await page.waitForSelector('.target h2 .state[data-state="connected"]', {
    timeout: HANG_GUARD_MS,
  });
  // Every value each job's bar and each timeline lane's progress line have shown, recorded by
  // the page itself as the DOM changes.
  await page.evaluate(() => {
    const w = window as unknown as {
      bars: Record<string, number[]>;
      lines: Record<string, number[]>;
    };
    w.bars = {};
    w.lines = {};
    const note = (seen: Record<string, number[]>, id: string, value: number) => {
      seen[id] ??= [];
      const values = seen[id];
      if (values.at(-1) !== value) values.push(value);
    };
    const record = () => {
      for (const tr of document.querySelectorAll<HTMLTableRowElement>('tr.job')) {
        note(w.bars, tr.dataset.id ?? '', tr.querySelector('progress')?.value ?? 0);
      }
      for (const li of document.querySelectorAll<HTMLElement>('#timeline-lanes li')) {
        note(w.lines, li.dataset.id ?? '', Number(li.dataset.progress));
      }
    };
    for (const id of ['targets', 'timeline-lanes']) {
      new MutationObserver(record).observe(document.getElementById(id) as HTMLElement, {
        subtree: true,
        childList: true,
        attributes: true,
        characterData: true,
      });
    }
  });
  return { target, dashboard, browser, page, pageErrors };
}

/** Every status QEMU announces, per job, seen by the test's own client. */
function recordStatuses(target: Target): Map<string, JobStatus[]> {
  const statuses = new Map<string, JobStatus[]>();
  const stream = target.check.events({ names: ['JOB_STATUS_CHANGE'] });
  void (async () => {
    for await (const event of stream) {
      const list = statuses.get(event.data.id) ?? [];
      list.push(event.data.status);
      statuses.set(event.data.id, list);
    }
  })();
  return statuses;
}

const rowStatus = (page: Page, id: string) =>
  page.$eval(`tr.job[data-id="${id}"]`, (tr) => (tr as HTMLElement).dataset.status ?? '');

/**
 * The status bands of job `id`'s timeline lane, in order: the chart is a canvas, and the page
 * lists what it draws for the lanes in view in `#timeline-lanes` (the dashboard README's page
 * contract).
 */
const bands = (page: Page, id: string) =>
  page.$$eval(`#timeline-lanes li[data-id="${id}"] [data-status]`, (spans) =>
    spans.map((s) => s.getAttribute('data-status')),
  );

/**
 * The statuses whose colour — the legend's swatch colour, at the chart's band opacity over its
 * white — fills some pixels along the middle of job `id`'s lane on the canvas: what a person
 * matching the bands against the legend sees. Only statuses in `statuses` are looked for.
 */
const coloursInLane = (page: Page, id: string, statuses: readonly string[]) =>
  page.evaluate(
    ([id, statuses]) => {
      const canvas = document.getElementById('timeline') as HTMLCanvasElement;
      const box = document.getElementById('timeline-box') as HTMLElement;
      const item = document.querySelector<HTMLElement>(`#timeline-lanes li[data-id="${id}"]`);
      if (item === null) return [];
      const laneHeight = Number(canvas.dataset.laneHeight);
      const opacity = Number(canvas.dataset.bandOpacity);
      // The canvas sticks to the top of the box's view: lane i is at i × laneHeight − scrollTop.
      const y = Number(item.dataset.index) * laneHeight - box.scrollTop + laneHeight / 2;
      const scale = canvas.width / canvas.getBoundingClientRect().width;
      const row = canvas
        .getContext('2d')
        ?.getImageData(0, Math.floor(y * scale), canvas.width, 1).data;
      if (row === undefined) return [];
      const found: string[] = [];
      for (const status of statuses) {
        const swatch = document.querySelector(`.legend i[data-status="${status}"]`) as Element;
        const rgb = (getComputedStyle(swatch).backgroundColor.match(/\d+/g) ?? []).map(Number);
        const want = rgb.slice(0, 3).map((c) => Math.round(255 + (c - 255) * opacity));
        for (let i = 0; i < row.length; i += 4) {
          if (want.every((c, k) => Math.abs((row[i + k] as number) - c) <= 3)) {
            found.push(status);
            break;
          }
        }
      }
      return found;
    },
    [id, statuses] as const,
  );

/**
 * Waits until `read()` gives a value `ok` accepts, and returns it; the error says the last value
 * read (a page's state is easier to mend with it).
 */
async function untilRead<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  what: string,
  ms = HANG_GUARD_MS,
): Promise<T> {
  let last: T | undefined;
  const found = await until(
    async () => {
      last = await read();
      return ok(last) ? { value: last } : undefined;
    },
    () => `${what}; last: ${JSON.stringify(last)}`,
    ms,
  );
  return found.value;
}

const nullCo = (name: string, size: number) =>
  JSON.stringify({ driver: 'null-co', 'node-name': name, size });

describe.each(TARGETS)('the dashboard against $label', (which) => {
  const name = which.label;
  test(
    'a mirror to ready and completed: row, advancing bar, timeline, then the end',
    async () => {
      const { target, page, pageErrors, dashboard } = await setUp(which, [
        nullCo('src', 64 * MiB),
        nullCo('dst', 64 * MiB),
      ]);
      const statuses = recordStatuses(target);
      // 16 MiB/s: QEMU copies its 16 MiB chunks one per second, so the bar has steps to show.
      await target.check.execute('blockdev-mirror', {
        'job-id': 'm1',
        device: 'src',
        target: 'dst',
        sync: 'full',
        speed: 16 * MiB,
      });
      await page.waitForSelector('tr.job[data-id="m1"]', { timeout: HANG_GUARD_MS });
      // The row appears with the first JOB_STATUS_CHANGE, which carries no job type; the type
      // arrives with the next query-jobs answer.
      await untilRead(
        () => page.$eval('tr.job[data-id="m1"] td.type', (td) => td.textContent),
        (t) => t === 'mirror',
        'the job type',
      );
      await untilRead(
        () => rowStatus(page, 'm1'),
        (s) => s === 'running',
        'running',
      );
      // The page records every value the bar shows (setUp): under load a poll from here could
      // miss the few seconds the bar spends part-way.
      await untilRead(
        () =>
          page.evaluate(
            () => (window as unknown as { bars: Record<string, number[]> }).bars.m1 ?? [],
          ),
        (values) => values.some((v) => v > 0 && v < 1),
        'the bar part-way',
      );
      await screenshot(page, `${name}-mirror-running`);
      await untilRead(
        () => rowStatus(page, 'm1'),
        (s) => s === 'ready',
        'ready',
      );
      // READY comes as an event; the progress that goes with it comes with the next sample.
      await untilRead(
        () => page.$eval('tr.job[data-id="m1"] .pct', (s) => s.textContent),
        (t) => t === '100.0 %',
        'the bar at 100 %',
      );
      await screenshot(page, `${name}-mirror-ready`);

      await target.check.execute('job-complete', { id: 'm1' });
      await untilRead(
        () => rowStatus(page, 'm1'),
        (s) => s === 'null',
        'null',
      );
      const qemuSaw = statuses.get('m1') ?? [];
      expect(qemuSaw.slice(0, 3)).toEqual(['created', 'running', 'ready']);
      expect(qemuSaw.at(-1)).toBe('null');
      // The lane shows exactly the statuses QEMU announced, in order.
      await untilRead(
        () => bands(page, 'm1'),
        (b) => b.at(-1) === 'null',
        'the timeline to end in null',
      );
      expect(await bands(page, 'm1')).toEqual(qemuSaw);
      expect(await page.$eval('tr.job[data-id="m1"] .status', (s) => s.textContent)).toBe(
        'null (completed)',
      );
      // The progress line reached the top of the lane; running and ready (each a second or more)
      // are drawn in their legend colours.
      expect(
        await page.$eval(
          '#timeline-lanes li[data-id="m1"]',
          (li) => (li as HTMLElement).dataset.progress,
        ),
      ).toBe('1');
      expect(await coloursInLane(page, 'm1', ['running', 'ready'])).toEqual(['running', 'ready']);

      // The bar and the lane's progress line never went backwards, and they advanced through
      // intermediate values.
      const shown = await page.evaluate(() => {
        const w = window as unknown as {
          bars: Record<string, number[]>;
          lines: Record<string, number[]>;
        };
        return { bars: w.bars, lines: w.lines };
      });
      for (const values of [shown.bars.m1 ?? [], shown.lines.m1 ?? []]) {
        for (let i = 1; i < values.length; i++)
          expect(values[i]).toBeGreaterThanOrEqual(values[i - 1] as number);
        expect(values.some((v) => v > 0 && v < 1)).toBe(true);
        expect(values.at(-1)).toBe(1);
      }
      await screenshot(page, `${name}-mirror-done`);

      // Filters: by status (active / finished) and by type, on the rows and the timeline alike.
      // The page applies a change at its next frame: wait for it.
      const visible = () =>
        page.$$eval('tr.job[data-id="m1"]', (rows) => rows.length === 1 && rows[0] !== undefined);
      const lanes = () => page.$$eval('#timeline-lanes li', (items) => items.length);
      await page.selectOption('#filter-status', 'active');
      await untilRead(visible, (v) => !v, 'the row filtered out');
      await untilRead(lanes, (n) => n === 0, 'the lane filtered out');
      await page.selectOption('#filter-status', 'finished');
      await untilRead(visible, (v) => v, 'the row shown');
      await untilRead(lanes, (n) => n === 1, 'the lane back');
      await page.selectOption('#filter-type', 'mirror');
      await untilRead(visible, (v) => v, 'the row shown');
      await page.selectOption('#filter-status', 'running');
      await untilRead(visible, (v) => !v, 'the row filtered out');
      await page.selectOption('#filter-status', '');
      await untilRead(visible, (v) => v, 'the row shown');

      // The log shows the job's events; /metrics counts them.
      const logged = await page.$$eval('#log li', (lis) =>
        lis.map((li) => (li as HTMLElement).dataset.event),
      );
      expect(logged).toContain('BLOCK_JOB_READY');
      expect(logged).toContain('BLOCK_JOB_COMPLETED');
      const metrics = await (await fetch(new URL('metrics', dashboard.url))).text();
      expect(metrics).toMatch(
        /qmpkit_jobs_finished_total\{target="[^"]+",type="mirror",outcome="completed"\} 1/,
      );
      // The timeline exports tell QEMU's story too: its statuses in order, and the outcome.
      const records = (await (await fetch(new URL('timeline.ndjson', dashboard.url))).text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((r) => r.job === 'm1');
      expect(records.filter((r) => r.kind === 'status').map((r) => r.status)).toEqual(qemuSaw);
      expect(records.filter((r) => r.kind === 'end')).toEqual([
        expect.objectContaining({ outcome: 'completed', error: null }),
      ]);
      interface Span {
        attributes: Array<{ key: string; value: { stringValue?: string } }>;
        events: Array<{ name: string }>;
        status: { code: number };
      }
      const otlp = (await (await fetch(new URL('timeline.otlp.json', dashboard.url))).json()) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }>;
      };
      const span = otlp.resourceSpans[0]?.scopeSpans[0]?.spans.find((s) =>
        s.attributes.some((a) => a.key === 'qemu.job.id' && a.value.stringValue === 'm1'),
      );
      expect(span?.events.map((e) => e.name)).toEqual(qemuSaw);
      expect(span?.status.code).toBe(1);
      expect(pageErrors).toEqual([]);
    },
    3 * HANG_GUARD_MS,
  );

  test(
    'an injected I/O error appears in the log and the job shows as failed',
    async () => {
      const { target, page, pageErrors } = await setUp(which, [
        nullCo('src', 64 * MiB),
        nullCo('dst', 64 * MiB),
        JSON.stringify({
          driver: 'blkdebug',
          'node-name': 'bad',
          image: 'src',
          'inject-error': [{ event: 'none', iotype: 'read', errno: 5, sector: 4096 }],
        }),
      ]);
      await target.check
        .execute('blockdev-backup', {
          'job-id': 'b1',
          device: 'bad',
          target: 'dst',
          sync: 'full',
          'on-source-error': 'report',
        })
        .catch(() => {}); // QEMU may report the failure only through events
      // The log reuses its list items as entries scroll out of view: read the entry in one go.
      const logged = '#log li.error[data-event="BLOCK_JOB_ERROR"]';
      await page.waitForSelector(logged, { timeout: HANG_GUARD_MS });
      expect(await page.$eval(`${logged} .data`, (d) => d.textContent)).toContain(
        '"action":"report"',
      );
      await untilRead(
        () => rowStatus(page, 'b1'),
        (s) => s === 'null',
        'the failed job to end',
      );
      expect(await page.$eval('tr.job[data-id="b1"] .status', (s) => s.textContent)).toBe(
        'null (failed)',
      );
      expect(
        await page.$eval('tr.job[data-id="b1"] td.errors', (td) => td.getAttribute('title')),
      ).toBe('Input/output error');
      await screenshot(page, `${name}-io-error`);
      expect(pageErrors).toEqual([]);
    },
    3 * HANG_GUARD_MS,
  );

  // Against QEMU 10.0 this is also a flood: 10.0 drains every job at each graph change (each
  // mirror's start and end inserts or removes its filter node), so every ready mirror flaps
  // standby → ready at each of the 400 starts and cancels — tens of thousands of events.
  test(
    '200 jobs at once: every job appears and reaches its end, in the list and the timeline',
    async () => {
      const count = 200;
      const blockdevs: string[] = [];
      for (let i = 0; i < count; i++) blockdevs.push(nullCo(`s${i}`, MiB), nullCo(`d${i}`, MiB));
      const { target, page, pageErrors } = await setUp(which, blockdevs);
      const statuses = recordStatuses(target);
      await Promise.all(
        Array.from({ length: count }, (_, i) =>
          target.check.execute('blockdev-mirror', {
            'job-id': `j${i}`,
            device: `s${i}`,
            target: `d${i}`,
            sync: 'full',
          }),
        ),
      );
      // The list renders only the rows in its scroll box; its heading counts them all.
      const summary = (jobs: number, active: number) =>
        page.waitForFunction(
          ([jobs, active]) => {
            const s = document.querySelector<HTMLElement>('section.target .summary');
            return s?.dataset.total === String(jobs) && s.dataset.active === String(active);
          },
          [jobs, active],
          { timeout: 3 * HANG_GUARD_MS, polling: 100 },
        );
      // Every mirror converges (each fits in one buffer); then cancel them all.
      await untilRead(
        async () => [...statuses.values()].filter((s) => s.includes('ready')).length,
        (n) => n === count,
        'every mirror ready',
        3 * HANG_GUARD_MS,
      );
      await summary(count, count);
      await Promise.all(
        Array.from({ length: count }, (_, i) =>
          target.check.execute('job-cancel', { id: `j${i}` }),
        ),
      );
      // QEMU's word first (its own events, on the test's monitor), then the page's.
      await untilRead(
        async () => [...statuses.values()].filter((s) => s.at(-1) === 'null').length,
        (n) => n === count,
        'QEMU to end every job',
        3 * HANG_GUARD_MS,
      );
      await summary(count, 0);
      // The rows in view say so too.
      expect(await page.$$eval('tr.job', (rows) => rows.length)).toBeGreaterThan(0);
      expect(await page.$$eval('tr.job:not([data-status="null"])', (rows) => rows.length)).toBe(0);
      // Scrolled to its end, the list shows the last job, ended too.
      await page.$eval('section.target .rows', (box) => {
        box.scrollTop = box.scrollHeight;
      });
      await page.waitForSelector(`tr.job[data-id="j${count - 1}"][data-status="null"]`, {
        timeout: HANG_GUARD_MS,
      });
      // Every job has its lane, and every lane ends in null. The chart holds only the lanes in
      // its scroll box: scroll it through, a box at a time, and read the lanes each view shows.
      expect(await page.$eval('#timeline-note', (n) => n.textContent)).toBe(`(${count} jobs)`);
      const laneEnds = new Map<string, string | null>();
      for (let step = 0; ; step++) {
        const view = await page.$eval(
          '#timeline-box',
          (box, step) => {
            box.scrollTop = step * box.clientHeight;
            return { top: box.scrollTop, height: box.clientHeight, full: box.scrollHeight };
          },
          step,
        );
        const laneHeight = Number(
          await page.$eval('#timeline-lanes', (s) => s.getAttribute('data-lane-height')),
        );
        // The lanes whose places the view covers, once the page has drawn them.
        const firstIndex = Math.floor(view.top / laneHeight);
        const lastIndex = Math.min(count, Math.ceil((view.top + view.height) / laneHeight)) - 1;
        const lanesInView = await untilRead(
          () =>
            page.$$eval('#timeline-lanes li', (items) =>
              items.map((li) => ({
                index: Number(li.getAttribute('data-index')),
                id: li.getAttribute('data-id') ?? '',
                last:
                  [...li.querySelectorAll('[data-status]')].at(-1)?.getAttribute('data-status') ??
                  null,
              })),
            ),
          (lanes) =>
            lanes.some((l) => l.index === firstIndex) && lanes.some((l) => l.index === lastIndex),
          `the lanes ${firstIndex}–${lastIndex}`,
        );
        for (const lane of lanesInView) laneEnds.set(lane.id, lane.last);
        if (view.top + view.height >= view.full) break;
      }
      expect(laneEnds.size).toBe(count);
      for (let i = 0; i < count; i++) expect(laneEnds.get(`j${i}`), `j${i}`).toBe('null');
      await screenshot(page, `${name}-200-jobs`, false);
      expect(pageErrors).toEqual([]);
      // A deadline that guards a hang: against QEMU 10.0's flood this takes about 3 minutes at a
      // load of 50 on two cores; its waits for all 200 jobs have three hang guards each.
    },
    8 * HANG_GUARD_MS,
  );
});

describe.each(TARGETS)('the dashboard on a QMP TCP socket of $label', (which) => {
  test(
    '--tcp HOST:PORT: the group is named by the address, and a mirror shows to its end',
    async () => {
      const port = await freePort();
      const address = `127.0.0.1:${port}`;
      const target = await startTarget(
        which.name,
        [nullCo('src', 64 * MiB), nullCo('dst', 64 * MiB)],
        [
          '--chardev',
          `socket,host=127.0.0.1,port=${port},server=on,wait=off,id=tcp0`,
          '--monitor',
          'chardev=tcp0',
        ],
        which.qemu,
      );
      cleanup.push(() => target.stop());
      const dashboard = await startDashboardCli([], ['--tcp', address, '--interval', '200']);
      cleanup.push(() => dashboard.stop());
      const browser = await startBrowser();
      cleanup.push(() => browser.close());
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(dashboard.url);
      await page.waitForSelector(
        `section.target[data-target="${address}"] h2 .state[data-state="connected"]`,
        { timeout: HANG_GUARD_MS },
      );
      const statuses = recordStatuses(target);
      await target.check.execute('blockdev-mirror', {
        'job-id': 'tcp-m1',
        device: 'src',
        target: 'dst',
        sync: 'full',
      });
      await untilRead(
        () => rowStatus(page, 'tcp-m1').catch(() => ''),
        (s) => s === 'ready',
        'ready',
      );
      await target.check.execute('job-complete', { id: 'tcp-m1' });
      await untilRead(
        () => page.$eval('tr.job[data-id="tcp-m1"] .status', (s) => s.textContent),
        (t) => t === 'null (completed)',
        'the job completed',
      );
      const qemuSaw = statuses.get('tcp-m1') ?? [];
      expect(qemuSaw.at(-1)).toBe('null');
      await untilRead(
        () => bands(page, 'tcp-m1'),
        (b) => b.at(-1) === 'null',
        'the timeline to end in null',
      );
      expect(await bands(page, 'tcp-m1')).toEqual(qemuSaw);
      const metrics = await (await fetch(new URL('metrics', dashboard.url))).text();
      expect(metrics).toContain(`qmpkit_qmp_up{target="${address}"} 1`);
      await screenshot(page, `${which.label}-tcp`);
      expect(pageErrors).toEqual([]);
    },
    3 * HANG_GUARD_MS,
  );
});

describe('the dashboard process', () => {
  test(
    'several targets, one row group each; SIGTERM ends it cleanly',
    async () => {
      const a = await startTarget('qemu', [nullCo('src', MiB)]);
      cleanup.push(() => a.stop());
      const b = await startTarget('qmpkit-server', [nullCo('src', MiB)]);
      cleanup.push(() => b.stop());
      let dashboard: DashboardProcess | undefined = await startDashboardCli([
        a.cliSocket,
        b.cliSocket,
      ]);
      cleanup.push(async () => dashboard?.stop());
      const browser: Browser = await startBrowser();
      cleanup.push(() => browser.close());
      const page = await browser.newPage();
      await page.goto(dashboard.url);
      await untilRead(
        () => page.$$eval('.target h2 .state[data-state="connected"]', (s) => s.length),
        (n) => n === 2,
        'both targets connected',
      );
      const groups = await page.$$eval('section.target', (s) =>
        s.map((e) => (e as HTMLElement).dataset.target),
      );
      expect(groups).toEqual([a.cliSocket, b.cliSocket]);
      const stopped = await dashboard.stop();
      dashboard = undefined;
      expect(stopped).toEqual({ code: 130, stderr: '' });
    },
    3 * HANG_GUARD_MS,
  );
});
