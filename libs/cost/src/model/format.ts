import { COST_KINDS, COST_SERVICES, COST_TIERS, Estimate, formatCents, Subtotal } from './estimate';
import { LiveCost } from './report';

const SERVICE_LABEL: Record<string, string> = {
  blob: 'Blob Storage',
  cosmos: 'Cosmos DB',
  table: 'Table Storage',
  search: 'AI Search',
  serviceBus: 'Service Bus',
  redis: 'Redis',
  bandwidth: 'Bandwidth',
};

function money(cents: number, width = 11): string {
  return formatCents(cents).padStart(width);
}

function subtotalRow(label: string, s: Subtotal): string {
  return `${label.padEnd(16)}${COST_KINDS.map((k) => money(s[k])).join('')}${money(s.total)}\n`;
}

function quantity(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return Number(v.toPrecision(4)).toString();
}

/** The estimate as text: per service, per tier (storage / operations / capacity / transfer apart), then lines. */
export function formatEstimate(e: Estimate): string {
  let out = '';
  const i = e.input;
  out += `twinstore monthly cost estimate (USD, list prices ${e.prices.name}, ${e.prices.region}, retrieved ${e.prices.retrieved})\n`;
  out += `${i.twins.toLocaleString('en-US')} twins x ${i.avgKb} KB, ${i.writesPerDay.toLocaleString('en-US')} writes/day, `;
  out += `${i.readsPerDay.toLocaleString('en-US')} reads/day, ${i.searchesPerDay.toLocaleString('en-US')} searches/day, `;
  out += `share hot/warm/cold ${i.share.hot}/${i.share.warm}/${i.share.cold}, ${i.imagesPerTwin} images x ${i.avgImageKb} KB, `;
  out += `${i.regions} region(s), cosmos ${i.cosmosMode}\n\n`;
  const header = `${''.padEnd(16)}${COST_KINDS.map((k) => k.padStart(11)).join('')}${'total'.padStart(11)}\n`;
  out += `per service\n${header}`;
  for (const s of COST_SERVICES) out += subtotalRow(SERVICE_LABEL[s], e.byService[s]);
  const total: Subtotal = { ...e.byKind, total: e.totalCents };
  out += subtotalRow('TOTAL', total);
  out += `\nper tier\n${header}`;
  for (const t of COST_TIERS) out += subtotalRow(t, e.byTier[t]);
  out += subtotalRow('TOTAL', total);
  out += `\nline items\n`;
  out += `${'service'.padEnd(12)}${'tier'.padEnd(8)}${'kind'.padEnd(11)}${'item'.padEnd(58)}${'quantity'.padStart(16)} ${'unit'.padEnd(17)}${'USD/unit'.padStart(10)}${'USD'.padStart(11)}\n`;
  for (const l of e.lines) {
    out += `${l.service.padEnd(12)}${l.tier.padEnd(8)}${l.kind.padEnd(11)}${l.item.slice(0, 57).padEnd(58)}`;
    out += `${quantity(l.quantity).padStart(16)} ${l.unit.padEnd(17)}${String(Number(l.unitUsd.toPrecision(6))).padStart(10)}${money(l.cents)}\n`;
  }
  out += `\nassumptions\n${e.assumptions.map((a) => `- ${a}\n`).join('')}`;
  out += `rounding: each line is rounded to the cent (half up); subtotals and totals add the rounded lines\n`;
  return out;
}

/** The live cost as text. */
export function formatLiveCost(c: LiveCost): string {
  let out = `twinstore live cost from billable-operation counters (USD, ${c.prices.name}, ${c.prices.region})\n`;
  for (const w of c.windows) out += `source ${w.source}: ${Math.round(w.seconds)} s of counts\n`;
  out += `\n${'service'.padEnd(12)}${'operation'.padEnd(20)}${'tier'.padEnd(9)}${'counted'.padStart(12)}${'per month'.padStart(16)}${'USD/month'.padStart(12)}  note\n`;
  for (const l of c.lines) {
    out += `${l.service.padEnd(12)}${l.operation.padEnd(20)}${l.tier.padEnd(9)}${quantity(l.counted).padStart(12)}`;
    out += `${quantity(l.perMonth).padStart(16)}${money(l.cents, 12)}  ${l.note ?? ''}\n`;
  }
  out += `\nper service\n`;
  for (const [s, cents] of Object.entries(c.byService))
    out += `${(SERVICE_LABEL[s] ?? s).padEnd(16)}${money(cents)}\n`;
  out += `${'TOTAL'.padEnd(16)}${money(c.totalCents)}\n\n${c.notes.map((n) => `- ${n}\n`).join('')}`;
  return out;
}
