import { describe, expect, it } from 'vitest';
import type { RawFts5Reader } from '@twinstore/adapters-embedded';
import {
  majorMinor,
  parseDiskstats,
  parseProcNetTcp,
  parseVmHwm,
  processTree,
  queryMix,
  rawMatch,
  savedEventsHandled,
  words,
} from './bench.command';

describe('bench measurements', () => {
  it('reads sectors written per device from /proc/diskstats (field 10, 512-byte sectors)', () => {
    const text = [
      ' 254       0 vda 66079 16249 2674410 14618 313093 115123 12668200 257097 0 41180 295257',
      '   7       0 loop0 10 0 20 0 0 0 0 0 0 0 0',
      '',
    ].join('\n');
    expect(parseDiskstats(text)).toEqual([
      { major: 254, minor: 0, name: 'vda', sectorsWritten: 12668200 },
      { major: 7, minor: 0, name: 'loop0', sectorsWritten: 0 },
    ]);
  });

  it('decodes a Linux dev_t into major and minor', () => {
    expect(majorMinor(65024n)).toEqual([254, 0]);
    expect(majorMinor(2049n)).toEqual([8, 1]);
    // minors above 255 live in the high bits
    expect(majorMinor((259n << 8n) | (0x12n << 20n) | 0x34n)).toEqual([259, 0x1234]);
  });

  it('takes VmHWM from /proc/<pid>/status in bytes', () => {
    expect(parseVmHwm('Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 1 kB\n')).toBe(
      204800 * 1024,
    );
    expect(parseVmHwm('Name:\tkthreadd\n')).toBeUndefined();
  });

  it('walks the process tree below the server', () => {
    const pairs = [
      { pid: 10, ppid: 1 },
      { pid: 11, ppid: 10 },
      { pid: 12, ppid: 10 },
      { pid: 13, ppid: 11 },
      { pid: 20, ppid: 1 },
    ];
    expect(processTree(pairs, 10).sort()).toEqual([10, 11, 12, 13]);
    expect(processTree(pairs, 99)).toEqual([99]);
  });

  it('finds listening sockets and their inodes in /proc/<pid>/net/tcp', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0',
      '   1: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0',
    ].join('\n');
    expect(parseProcNetTcp(text)).toEqual([
      { port: 8080, listening: true, inode: '4242' },
      { port: 0xa1b2, listening: false, inode: '4343' },
    ]);
  });

  it('counts twin.saved.v1 messages handled per subscription from /metrics, retries left out', () => {
    const metrics = [
      '# TYPE twins_messages_total counter',
      'twins_messages_total{subscription="writer",type="twin.saved.v1",outcome="done",service="all"} 95',
      'twins_messages_total{subscription="writer",type="twin.saved.v1",outcome="stale",service="all"} 5',
      'twins_messages_total{subscription="writer",type="twin.saved.v1",outcome="error",service="all"} 7',
      'twins_messages_total{subscription="tiering",type="twin.accessed.v1",outcome="done",service="all"} 3',
      'twins_messages_total{subscription="tiering",type="twin.saved.v1",outcome="done",service="all"} 42',
    ].join('\n');
    expect(savedEventsHandled(metrics)).toEqual(
      new Map([
        ['writer', 100],
        ['tiering', 42],
      ]),
    );
  });
});

describe('bench query mix', () => {
  it('splits text as the tokenizer does and quotes phrases for the raw table', () => {
    expect(words('Zoë is a 55-year-old nurse; "Offset" account')).toEqual([
      'zoë',
      'year',
      'old',
      'nurse',
      'offset',
      'account',
    ]);
    expect(rawMatch('"offset account" nurse')).toBe('"offset account" "nurse"');
    expect(rawMatch('a "" "quoted"')).toBe('"quoted"');
  });

  it('draws the same queries for the same seed, each class of its frequency', () => {
    // a stand-in raw table: a term's frequency is its length (short = common, long = rare)
    const reader: RawFts5Reader = {
      top: () => [],
      countUpTo: (match, cap) => Math.min(cap, Math.max(1, 12 - match.length) * 100),
      close: () => undefined,
    };
    const a = queryMix(reader, 1000, 5, 7);
    const b = queryMix(reader, 1000, 5, 7);
    const text = (m: typeof a) =>
      Object.fromEntries(Object.entries(m).map(([k, qs]) => [k, qs.map((q) => q.params.toString())]));
    expect(text(a)).toEqual(text(b));
    for (const q of a['rare term'])
      expect(reader.countUpTo(`"${q.params.get('q')}"`, 1e9)).toBeLessThanOrEqual(3);
    for (const q of a['common term'])
      expect(reader.countUpTo(`"${q.params.get('q')}"`, 1e9)).toBeGreaterThan(250);
    for (const q of a['phrase in quotes']) expect(q.params.get('q')).toMatch(/^"\S+ \S+"$/);
    for (const q of a['filter-only']) {
      expect(q.params.has('q')).toBe(false);
      expect(q.match).toBeNull();
    }
    for (const q of a['text + filters + facets']) {
      expect(q.params.get('facets')).toBe('classification,location,tags');
      expect(q.match).not.toBeNull();
    }
    expect(Object.values(a).every((qs) => qs.every((q) => q.params.get('top') === '50'))).toBe(true);
  });
});
