import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  costSimulateCommand,
  CostSimulateUsageError,
  parseCostSimulateArgs,
  runSimulate,
} from './cost-simulate.command';

function sink() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('twins cost simulate', () => {
  it('parses its flags with the documented defaults', () => {
    expect(parseCostSimulateArgs([])).toMatchObject({ twins: 1_000_000, days: 730, seed: 1, json: false });
    expect(parseCostSimulateArgs(['--twins', '500', '--days', '60', '--seed', '7', '--json'])).toMatchObject({
      twins: 500,
      days: 60,
      seed: 7,
      json: true,
    });
    expect(() => parseCostSimulateArgs(['--twins', '0'])).toThrow(CostSimulateUsageError);
    expect(() => parseCostSimulateArgs(['--days', 'x'])).toThrow(CostSimulateUsageError);
    expect(() => parseCostSimulateArgs(['--bogus'])).toThrow(CostSimulateUsageError);
  });

  it('prints the four policies, and JSON with --json; progress goes to the progress stream', async () => {
    const out = sink();
    const progress = sink();
    const report = await costSimulateCommand({
      twins: 1_000,
      days: 200,
      out: out.stream,
      progressOut: progress.stream,
    });
    for (const label of ['all hot', 'static 30/365', 'product', 'offline optimum']) {
      expect(out.text()).toContain(label);
    }
    expect(progress.text()).toContain('simulate: 1000/1000 twins');
    expect(report.policies).toHaveLength(4);
    expect(report.peakRssMb).toBeGreaterThan(0);

    const json = sink();
    await costSimulateCommand({ twins: 1_000, days: 200, json: true, progress: false, out: json.stream });
    const parsed = JSON.parse(json.text()) as { policies: { totalUsd: number }[] };
    expect(parsed.policies.map((p) => p.totalUsd)).toEqual(report.policies.map((p) => p.totalUsd));
  });

  it('runSimulate (the COST_SUBCOMMANDS entry) reports usage errors with exit code 2', async () => {
    const out = sink();
    const err = sink();
    expect(await runSimulate(['--twins', 'many'], { out: out.stream, err: err.stream })).toBe(2);
    expect(err.text()).toContain('--twins must be an integer');
    expect(err.text()).toContain('usage: twins cost simulate');
    expect(await runSimulate(['--twins', '300', '--days', '90'], { out: out.stream, err: err.stream })).toBe(
      0,
    );
    expect(out.text()).toContain('offline optimum');
  });
});
