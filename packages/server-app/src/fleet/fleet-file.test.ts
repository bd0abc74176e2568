import { describe, expect, test } from 'vitest';
import { parseFaultOption } from '../faults/spec.js';
import { type MonitorSpec, splitQemuOpts } from '../options.js';
import {
  FleetFileError,
  fleetMonitorProblem,
  fleetMonitors,
  MAX_FLEET,
  MAX_VM_DISKS,
  parseFleetFile,
} from './fleet-file.js';

const parseFault = (text: string) => parseFaultOption(text, splitQemuOpts);

describe('parseFleetFile', () => {
  test('VMs in file order, each with its disks and where they were given', () => {
    const text = [
      '# two VMs',
      'vm web1',
      '  disk null-co,node-name=os,size=1073741824',
      '',
      '  disk {"driver": "null-co", "node-name": "data", "size": 1048576}',
      'vm db-1.example\r',
      '\tdisk null-co,node-name=os,size=2147483648   ',
    ].join('\n');
    expect(parseFleetFile(text, 'fleet.txt', parseFault)).toEqual([
      {
        name: 'web1',
        disks: [
          { value: 'null-co,node-name=os,size=1073741824', origin: 'fleet.txt:3: disk' },
          {
            value: '{"driver": "null-co", "node-name": "data", "size": 1048576}',
            origin: 'fleet.txt:5: disk',
          },
        ],
        faults: [],
      },
      {
        name: 'db-1.example',
        disks: [{ value: 'null-co,node-name=os,size=2147483648', origin: 'fleet.txt:7: disk' }],
        faults: [],
      },
    ]);
    // A VM without disks of its own has the command line's only.
    expect(parseFleetFile('vm a\nvm b\n', 'f', parseFault)).toEqual([
      { name: 'a', disks: [], faults: [] },
      { name: 'b', disks: [], faults: [] },
    ]);
  });

  test.each([
    ['vm a\nvm a\n', "f:2: vm 'a' is already named on line 1"],
    ['disk null-co,node-name=x\n', "f:1: 'disk' before any 'vm' line"],
    ['vm a\n  disk\n', "f:2: 'disk' needs a block device"],
    ['vm a\nvolume x\n', "f:2: unknown statement 'volume'"],
    ['vm\n', "f:1: vm '': a VM's name is"],
    ['vm a b\n', "f:1: vm 'a b': a VM's name is"],
    ['vm ../etc\n', "f:1: vm '../etc': a VM's name is"],
    ['vm -x\n', "f:1: vm '-x'"],
    ['vm __proto__\n', "f:1: vm '__proto__'"],
    [`vm ${'a'.repeat(65)}\n`, "a VM's name is 1 to 64"],
    ['# nothing\n\n', 'f: no VMs'],
    [`vm a\n${'x'.repeat(64 * 1024 + 1)}\n`, 'f:2: line longer than 65536 characters'],
  ])('%j: %s', (text, message) => {
    expect(() => parseFleetFile(text, 'f', parseFault)).toThrow(FleetFileError);
    expect(() => parseFleetFile(text, 'f', parseFault)).toThrow(message);
  });

  test("a VM's own faults, in --fault syntax", () => {
    const [web, db] = parseFleetFile(
      'vm web\n  fault delay-reply,ms=50,command=query-jobs\nvm db\n  fault drop,job=m,status=ready\n',
      'f',
      parseFault,
    );
    expect(web!.faults).toEqual([{ kind: 'delay-reply', ms: 50, command: 'query-jobs' }]);
    expect(db!.faults).toEqual([{ kind: 'drop', job: 'm', status: 'ready' }]);
    expect(() => parseFleetFile('vm a\nfault bogus\n', 'f', parseFault)).toThrow(
      "f:2: fault bogus: unknown fault kind 'bogus'",
    );
    expect(() => parseFleetFile('fault split\n', 'f', parseFault)).toThrow(
      "f:1: 'fault' before any 'vm' line",
    );
  });

  test('names that are Object.prototype members are plain names', () => {
    const vms = parseFleetFile('vm constructor\nvm toString\nvm hasOwnProperty\n', 'f', parseFault);
    expect(vms.map((v) => v.name)).toEqual(['constructor', 'toString', 'hasOwnProperty']);
    expect(() => parseFleetFile('vm constructor\nvm constructor\n', 'f', parseFault)).toThrow(
      "f:2: vm 'constructor' is already named on line 1",
    );
  });

  test('bounded: VMs and disks per VM', () => {
    const many = Array.from({ length: MAX_FLEET + 1 }, (_, i) => `vm v${i}`).join('\n');
    expect(() => parseFleetFile(many, 'f', parseFault)).toThrow(
      `f:${MAX_FLEET + 1}: more than ${MAX_FLEET} VMs`,
    );
    const disks = Array.from(
      { length: MAX_VM_DISKS + 1 },
      (_, i) => `disk null-co,node-name=d${i}`,
    );
    expect(() => parseFleetFile(['vm a', ...disks].join('\n'), 'f', parseFault)).toThrow(
      `f:${MAX_VM_DISKS + 2}: vm 'a' has more than ${MAX_VM_DISKS} disks`,
    );
  });
});

describe('fleet monitors', () => {
  const unix = (path: string): MonitorSpec => ({
    endpoint: { kind: 'unix', path },
    origin: `--socket ${path}`,
  });
  const tcp = (port: number): MonitorSpec => ({
    endpoint: { kind: 'tcp', host: '127.0.0.1', port },
    origin: `--tcp 127.0.0.1:${port}`,
  });

  test('%n is the name, %d the number; TCP ports shift by the number', () => {
    expect(
      fleetMonitors([unix('run/%n-%d.sock'), tcp(7000), tcp(0)], 2, 'db1').map((m) => m.endpoint),
    ).toEqual([
      { kind: 'unix', path: 'run/db1-2.sock' },
      { kind: 'tcp', host: '127.0.0.1', port: 7002 },
      { kind: 'tcp', host: '127.0.0.1', port: 0 },
    ]);
  });

  test('a path shared by several VMs, or ports beyond 65535, are named', () => {
    const two = [
      { name: 'a', disks: [], faults: [] },
      { name: 'b', disks: [], faults: [] },
    ];
    expect(fleetMonitorProblem([unix('q.sock')], two)).toContain(
      "--socket q.sock: with 2 VMs the socket path needs '%d'",
    );
    expect(fleetMonitorProblem([unix('q.sock')], two.slice(0, 1))).toBeUndefined();
    expect(fleetMonitorProblem([unix('%n.sock'), tcp(0)], two)).toBeUndefined();
    expect(fleetMonitorProblem([tcp(65535)], two)).toBe(
      '--tcp 127.0.0.1:65535: ports beyond 65535 for 2 VMs',
    );
  });
});
