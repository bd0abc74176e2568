// QEMU's job statuses, and the formatting of the dashboard's numbers and times.

/** QEMU's job statuses, in the order a job goes through them. */
export const STATUSES = [
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
/** The statuses of a job that still has work or a decision ahead. */
const ACTIVE = new Set(STATUSES.slice(0, -2));

export function formatBytes(n) {
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

export function formatRate(n) {
  return n === null || n === undefined ? '–' : `${formatBytes(n)}/s`;
}

export function formatEta(ms, job) {
  if (!ACTIVE.has(job.status)) return '';
  if (ms === null || ms === undefined) return job.status === 'ready' ? 'in sync?' : '–';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

const two = (n) => String(n).padStart(2, '0');

export function formatTime(ms) {
  // By hand: toLocaleTimeString costs far more, and the log formats hundreds at a time.
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function formatSpeed(n) {
  if (n === null || n === undefined) return '–';
  return n === 0 ? 'unlimited' : formatRate(n);
}
