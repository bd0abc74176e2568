// The dashboard's HTTP server without a live QMP target: what it serves, what it refuses.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import { type Dashboard, isLoopback, startDashboard } from '../src/node/index.js';

const open: Dashboard[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(extra: { maxClients?: number } = {}): Promise<Dashboard> {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-dash-'));
  dirs.push(dir);
  // Nobody listens there: the target stays disconnected, the page still works.
  const dashboard = await startDashboard({
    targets: [{ name: 'vm1', target: { path: join(dir, 'absent.sock') } }],
    port: 0,
    ...extra,
  });
  open.push(dashboard);
  return dashboard;
}

function get(
  dashboard: Dashboard,
  path: string,
  options: { method?: string; host?: string } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: dashboard.port,
        path,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? `127.0.0.1:${dashboard.port}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Opens /events and resolves with the response once its first message arrived. */
function openStream(
  dashboard: Dashboard,
): Promise<{ status: number; first: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: dashboard.port, path: '/events' }, (res) => {
      let text = '';
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ status: res.statusCode ?? 0, first: '', close: () => req.destroy() });
        return;
      }
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        const data = /^data: (.*)$/m.exec(text);
        if (data) resolve({ status: 200, first: data[1] as string, close: () => req.destroy() });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard server', () => {
  test('refuses a non-loopback address unless allowed', async () => {
    await expect(
      startDashboard({ targets: [{ target: { path: '/nonexistent' } }], host: '0.0.0.0', port: 0 }),
    ).rejects.toThrow(/refusing to listen on 0\.0\.0\.0: not a loopback address/);
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('[::1]')).toBe(true);
    expect(isLoopback('localhost')).toBe(true);
    expect(isLoopback('127.0.0.1.evil.example')).toBe(false);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });

  test('serves the page, its assets, metrics and exports; refuses the rest', async () => {
    const dashboard = await start();
    expect(dashboard.url).toBe(`http://127.0.0.1:${dashboard.port}/`);
    const page = await get(dashboard, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('<script type="module" src="app.js">');
    expect((await get(dashboard, '/app.js')).body).toContain('new EventSource');
    expect((await get(dashboard, '/app.css')).status).toBe(200);
    // Every file of the page (its modules import one another by name) is served.
    for (const file of readdirSync(new URL('../page/', import.meta.url))) {
      const asset = await get(dashboard, file === 'index.html' ? '/' : `/${file}`);
      expect([file, asset.status]).toEqual([file, 200]);
    }
    const metrics = await get(dashboard, '/metrics');
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(metrics.body).toContain('qmpkit_qmp_up{target="vm1"} 0');
    expect((await get(dashboard, '/timeline.ndjson')).body).toBe('');
    const otlp = JSON.parse((await get(dashboard, '/timeline.otlp.json')).body);
    expect(otlp.resourceSpans[0].resource.attributes).toContainEqual({
      key: 'qmpkit.target',
      value: { stringValue: 'vm1' },
    });
    expect((await get(dashboard, '/nope')).status).toBe(404);
    expect((await get(dashboard, '/../package.json')).status).toBe(404);
    expect((await get(dashboard, '/', { method: 'POST' })).status).toBe(405);
    // DNS rebinding: a foreign host name reaching the loopback listener is refused.
    expect((await get(dashboard, '/metrics', { host: 'evil.example:80' })).status).toBe(403);
    expect((await get(dashboard, '/', { host: `localhost:${dashboard.port}` })).status).toBe(200);
  });

  test('the live stream starts with the whole state; pages beyond the limit are refused', async () => {
    const dashboard = await start({ maxClients: 2 });
    const a = await openStream(dashboard);
    const b = await openStream(dashboard);
    const hello = JSON.parse(a.first);
    expect(hello).toMatchObject({ type: 'hello', jobs: [], log: [] });
    expect(hello.targets[0].name).toBe('vm1');
    const c = await openStream(dashboard);
    expect(c.status).toBe(503);
    a.close();
    // Once a page leaves, another may come (as soon as the server has seen it leave).
    const d = await until(async () => {
      const tried = await openStream(dashboard);
      if (tried.status === 200) return tried;
      tried.close();
      return undefined;
    }, 'a place for a page once another left');
    expect(d.status).toBe(200);
    for (const s of [b, c, d]) s.close();
  });
});
