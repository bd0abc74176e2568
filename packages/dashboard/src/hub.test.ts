import { describe, expect, test } from 'vitest';
import { DashboardHub } from './hub.js';
import { renderMetrics } from './metrics.js';

const change = (id: string, status: string) => ({ id, status });

function hubWithMirror() {
  const hub = new DashboardHub({ maxLog: 3 });
  hub.addTarget('vm1', 0);
  hub.setTargetState('vm1', 'connected', 'QEMU 7.2.0', 0);
  hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'created'), 10);
  hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'running'), 11);
  hub.applySnapshot(
    'vm1',
    [
      {
        id: 'm1',
        type: 'mirror',
        status: 'running',
        'current-progress': 256,
        'total-progress': 1024,
      },
    ],
    [{ device: 'm1', speed: 0 }],
    hub.mark('vm1'),
    20,
  );
  return hub;
}

describe('DashboardHub', () => {
  test('hello carries targets, jobs with every sample, and the log', () => {
    const hub = hubWithMirror();
    const hello = hub.hello(30);
    expect(hello.targets).toEqual([
      { name: 'vm1', state: 'connected', detail: 'QEMU 7.2.0', since: 0 },
    ]);
    expect(hello.jobs).toHaveLength(1);
    expect(hello.jobs[0]).toMatchObject({
      key: '0/1',
      id: 'm1',
      type: 'mirror',
      status: 'running',
      current: 256,
      total: 1024,
      fraction: 0.25,
      intervals: [
        ['created', 10, 11],
        ['running', 11, null],
      ],
      samples: [[20, 256, 1024]],
    });
    expect(hello.log.map((e) => e.event)).toEqual(['JOB_STATUS_CHANGE', 'JOB_STATUS_CHANGE']);
  });

  test('updates carry only what changed, new samples only, and the receipt time', () => {
    const hub = hubWithMirror();
    const first = hub.takeUpdate(30);
    expect(first?.jobs.map((j) => j.id)).toEqual(['m1']);
    expect(first?.jobs[0]?.at).toBe(10); // the first change since the last update
    expect(hub.takeUpdate(31)).toBeUndefined();
    hub.applySnapshot(
      'vm1',
      [
        {
          id: 'm1',
          type: 'mirror',
          status: 'running',
          'current-progress': 512,
          'total-progress': 1024,
        },
      ],
      [{ device: 'm1', speed: 0 }],
      hub.mark('vm1'),
      40,
    );
    const second = hub.takeUpdate(41);
    expect(second?.jobs[0]?.samples).toEqual([[40, 512, 1024]]);
    // Intervals from the last one sent (running, still open then) on.
    expect(second?.jobs[0]?.intervals).toEqual([['running', 11, null]]);
    hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'paused'), 50);
    expect(hub.takeUpdate(51)?.jobs[0]?.intervals).toEqual([
      ['running', 11, 50],
      ['paused', 50, null],
    ]);
    expect(second?.jobs[0]?.at).toBe(40);
    expect(second?.log).toEqual([]);
  });

  test('a flood of status changes: an update carries the interval sent before and the newest', () => {
    // QEMU 10.0 drains every job at each graph change: a ready mirror flaps standby/ready.
    const hub = new DashboardHub({ maxIntervals: 4 });
    hub.addTarget('vm1', 0);
    hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'created'), 1);
    hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'running'), 2);
    hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'ready'), 3);
    expect(hub.takeUpdate(4)?.jobs[0]?.intervals).toEqual([
      ['created', 1, 2],
      ['running', 2, 3],
      ['ready', 3, null],
    ]);
    for (let t = 10; t < 1010; t += 2) {
      hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'standby'), t);
      hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('m1', 'ready'), t + 1);
    }
    expect(hub.takeUpdate(1010)?.jobs[0]?.intervals).toEqual([
      ['ready', 3, 10], // the one sent before, now closed (the model's list dropped it)
      ['ready', 1007, 1008],
      ['standby', 1008, 1009],
      ['ready', 1009, null],
    ]);
    // A new page gets the first and the newest.
    expect(hub.hello(1011).jobs[0]?.intervals).toEqual([
      ['created', 1, 2],
      ['ready', 1007, 1008],
      ['standby', 1008, 1009],
      ['ready', 1009, null],
    ]);
  });

  test('statuses that change within one millisecond are sent once each', () => {
    const hub = new DashboardHub();
    hub.addTarget('vm1', 0);
    for (const [s, t] of [
      ['created', 1],
      ['running', 2],
      ['waiting', 5],
      ['pending', 5],
    ] as const) {
      hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('b1', s), t);
    }
    hub.takeUpdate(5);
    hub.applyEvent('vm1', 'JOB_STATUS_CHANGE', change('b1', 'concluded'), 6);
    expect(hub.takeUpdate(6)?.jobs[0]?.intervals).toEqual([
      ['waiting', 5, 5],
      ['pending', 5, 6],
      ['concluded', 6, null],
    ]);
  });

  test('the log is bounded and flags errors', () => {
    const hub = hubWithMirror();
    hub.applyEvent(
      'vm1',
      'BLOCK_JOB_ERROR',
      { device: 'm1', operation: 'read', action: 'report' },
      50,
    );
    hub.applyEvent('vm1', 'SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }, 51);
    const log = hub.hello(52).log;
    expect(log.map((e) => [e.event, e.level])).toEqual([
      ['JOB_STATUS_CHANGE', 'info'],
      ['BLOCK_JOB_ERROR', 'error'],
      ['SHUTDOWN', 'info'],
    ]);
    expect(log[1]?.data).toBe('{"device":"m1","operation":"read","action":"report"}');
  });

  test('evicted runs are announced as removed', () => {
    const hub = new DashboardHub({ maxJobs: 1 });
    hub.addTarget('vm', 0);
    for (const s of ['created', 'running', 'concluded', 'null'])
      hub.applyEvent('vm', 'JOB_STATUS_CHANGE', change('a', s), 1);
    expect(hub.takeUpdate(2)?.jobs.map((j) => j.key)).toEqual(['0/1']);
    hub.applyEvent('vm', 'JOB_STATUS_CHANGE', change('b', 'created'), 3);
    const update = hub.takeUpdate(4);
    expect(update?.jobs.map((j) => j.key)).toEqual(['0/2']);
    expect(update?.removed).toEqual(['0/1']);
  });
});

describe('metrics', () => {
  test('Prometheus text: families, labels, per-job gauges, counters', () => {
    const hub = hubWithMirror();
    hub.recordRoundTrip('vm1', 0.003);
    hub.applyEvent(
      'vm1',
      'BLOCK_JOB_ERROR',
      { device: 'm1', operation: 'write', action: 'stop' },
      21,
    );
    const text = renderMetrics({ targets: hub.metricsView(30), sseClients: 2 });
    const lines = text.split('\n');
    expect(text.endsWith('\n')).toBe(true);
    expect(lines).toContain('qmpkit_qmp_up{target="vm1"} 1');
    expect(lines).toContain(
      'qmpkit_qmp_events_received_total{target="vm1",event="JOB_STATUS_CHANGE"} 2',
    );
    expect(lines).toContain(
      'qmpkit_qmp_events_received_total{target="vm1",event="BLOCK_JOB_ERROR"} 1',
    );
    expect(lines).toContain('qmpkit_jobs{target="vm1",type="mirror",status="running"} 1');
    expect(lines).toContain('qmpkit_job_bytes_done{target="vm1",job="m1",type="mirror"} 256');
    expect(lines).toContain('qmpkit_job_bytes_total{target="vm1",job="m1",type="mirror"} 1024');
    expect(lines).toContain('qmpkit_job_errors_total{target="vm1",type="mirror",action="stop"} 1');
    expect(lines).toContain('qmpkit_qmp_round_trip_seconds_bucket{target="vm1",le="0.0025"} 0');
    expect(lines).toContain('qmpkit_qmp_round_trip_seconds_bucket{target="vm1",le="0.005"} 1');
    expect(lines).toContain('qmpkit_qmp_round_trip_seconds_count{target="vm1"} 1');
    expect(lines).toContain('qmpkit_dashboard_sse_clients 2');
    expect(lines).toContain('# TYPE qmpkit_job_errors_total counter');
    // Every sample line belongs to a family declared before it.
    const declared = new Set<string>();
    for (const line of lines) {
      const type = /^# TYPE (\S+) /.exec(line);
      if (type) declared.add(type[1] as string);
      else if (line !== '' && !line.startsWith('#')) {
        const name = (/^[a-z_]+/.exec(line) as RegExpExecArray)[0];
        expect(declared.has(name.replace(/_(bucket|sum|count)$/, '')) || declared.has(name)).toBe(
          true,
        );
      }
    }
  });

  test('label values are escaped; ended jobs leave the per-job gauges', () => {
    const hub = new DashboardHub();
    hub.addTarget('/run/"vm"\\a\nb.sock', 0);
    const name = '/run/"vm"\\a\nb.sock';
    for (const s of ['created', 'running', 'concluded', 'null'])
      hub.applyEvent(name, 'JOB_STATUS_CHANGE', change('j', s), 1);
    const text = renderMetrics({ targets: hub.metricsView(2), sseClients: 0 });
    expect(text).toContain('qmpkit_qmp_up{target="/run/\\"vm\\"\\\\a\\nb.sock"} 0');
    expect(text).not.toContain('qmpkit_job_bytes_done{');
    expect(text).toContain(
      'qmpkit_jobs_finished_total{target="/run/\\"vm\\"\\\\a\\nb.sock",type="unknown",outcome="completed"} 1',
    );
  });
});
