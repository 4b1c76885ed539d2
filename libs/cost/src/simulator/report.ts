import { SimulationResult } from './simulate';

const usd = (v: number) => v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;

/** The human-readable report of a simulation (what `twins cost simulate` prints). */
export function formatSimulation(r: SimulationResult): string {
  const t = r.trace;
  const lines: string[] = [];
  lines.push(
    `tiering simulation: ${int(t.twins)} twins x ${t.days} days, seed ${t.seed}${
      r.sampleEvery > 1 ? ` (1 twin in ${r.sampleEvery} simulated, sums scaled)` : ''
    }`,
  );
  lines.push(`prices: ${r.prices}`);
  lines.push(
    `trace: ${int(r.totals.twinDays)} twin-days, ${int(r.totals.reads)} reads (${int(r.totals.campaignReads)} in ${r.campaigns} campaigns), ${int(r.totals.writes)} writes`,
  );
  lines.push('');
  const header = [
    'policy',
    'total USD',
    'storage',
    'operations',
    'transitions',
    'penalties',
    'vs optimum',
    'moves',
    'rehydrations',
    'hot/warm/cold days',
  ];
  const rows = r.policies.map((p) => {
    const days = p.twinDays.hot + p.twinDays.warm + p.twinDays.cold || 1;
    const share = (v: number) => `${Math.round((100 * v) / days)}`;
    return [
      p.label,
      usd(p.totalUsd),
      usd(p.storageUsd),
      usd(p.operationsUsd),
      usd(p.transitionsUsd),
      usd(p.penaltiesUsd),
      p.policy === 'optimum' ? '-' : pct(p.ratioToOptimum),
      int(p.moves),
      int(p.rehydrations + p.coldReads),
      `${share(p.twinDays.hot)}/${share(p.twinDays.warm)}/${share(p.twinDays.cold)}%`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  lines.push(fmt(header));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) lines.push(fmt(row));
  lines.push('');
  const by = Object.fromEntries(r.policies.map((p) => [p.policy, p]));
  lines.push(
    `product policy: ${pct(by.product.ratioToOptimum)} vs the offline optimum; static 30/365: ${pct(
      by.static.ratioToOptimum,
    )}; all hot: ${pct(by.allHot.ratioToOptimum)}`,
  );
  if (r.optimumViolations > 0) lines.push(`WARNING: ${r.optimumViolations} twins cheaper than the optimum`);
  return lines.join('\n');
}
