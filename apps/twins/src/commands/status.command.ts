import { createRuntime, loadConfigOrExit } from '@twinstore/platform';

export interface StatusReport {
  dataDir: string;
  subscriptions: { subscription: string; active: number; deadLettered: number }[];
  stores: { catalog: number; searchIndex: number; tiers: Record<string, number> };
}

/** `twins status`: backlog and dead letters per subscription, and counts per store. */
export async function statusCommand(options: {
  json: boolean;
  out?: NodeJS.WritableStream;
}): Promise<StatusReport> {
  const out = options.out ?? process.stdout;
  const config = loadConfigOrExit();
  const runtime = await createRuntime(config, {
    service: 'twins-cli',
    logger: (await import('pino')).default({ level: 'silent' }),
  });
  try {
    const [subscriptions, catalog, searchIndex, tiers] = await Promise.all([
      runtime.busAdmin.stats(),
      runtime.catalog.count(),
      runtime.search.count(),
      runtime.activity.countByTier(),
    ]);
    const report: StatusReport = {
      dataDir: config.dataDir,
      subscriptions,
      stores: { catalog, searchIndex, tiers },
    };
    if (options.json) {
      out.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      out.write(`data: ${config.dataDir}\n\nsubscription      backlog  dead-lettered\n`);
      for (const s of subscriptions) {
        out.write(
          `${s.subscription.padEnd(16)} ${String(s.active).padStart(8)} ${String(s.deadLettered).padStart(14)}\n`,
        );
      }
      out.write(
        `\nstore          count\ncatalog   ${String(catalog).padStart(10)}\nsearch    ${String(searchIndex).padStart(10)}\n`,
      );
      for (const [tier, n] of Object.entries(tiers))
        out.write(`tier ${tier.padEnd(5)}${String(n).padStart(10)}\n`);
    }
    return report;
  } finally {
    await runtime.close();
  }
}
