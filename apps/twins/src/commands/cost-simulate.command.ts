import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import {
  DEFAULT_TRACE,
  formatSimulation,
  loadPriceTable,
  simPricesFromTable,
  simulateAsync,
  SimulationResult,
} from '@twinstore/cost';

export const COST_SIMULATE_USAGE = `usage: twins cost simulate [--twins 1000000] [--days 730] [--seed 1] [--json]
                           [--sample-every 1] [--prices FILE] [--image-fraction 0] [--product-scale 1]

Replays a synthetic access trace (Zipf popularity, ageing, campaign bursts, twins created over time) and prints
the total cost of: everything hot (Cosmos catalog + Hot blob), the reference's static 30/365-day policy, the
product's break-even policy, and the offline optimum (clairvoyant, per twin). Progress goes to stderr.

  --twins N            twins in the trace (default 1000000)
  --days N             simulated days (default 730)
  --seed N             trace seed (default 1); same seed, same output
  --json               print the result as JSON
  --sample-every K     simulate one twin in K and scale the sums (default 1: every twin)
  --prices FILE        price table override (see twins cost); default: the bundled dated table
  --image-fraction F   share of twins whose persona images (3 blobs, 300 KB) are tiered with them (default 0)
  --product-scale X    multiply the product policy's break-even thresholds (default 1)`;

/** The one-entry usage in the style of `COST_SUBCOMMANDS` (apps/twins/src/commands/cost.command.ts). */
export const SIMULATE_USAGE = `cost simulate [--twins 1000000] [--days 730] [--seed 1] [--json] [--sample-every K] [--prices FILE]
      [--image-fraction F] [--product-scale X]
                                                tiering policies (all hot, static 30/365, product) over a synthetic
                                                access trace vs the offline optimum`;

export class CostSimulateUsageError extends Error {
  override readonly name = 'CostSimulateUsageError';
}

export interface CostSimulateArgs {
  twins?: number;
  days?: number;
  seed?: number;
  json?: boolean;
  sampleEvery?: number;
  /** Path of a price table override (`loadPriceTable`). */
  pricesPath?: string;
  imageFraction?: number;
  productScale?: number;
  /** Show progress (default true). */
  progress?: boolean;
  /** Where the report goes (default stdout). */
  out?: NodeJS.WritableStream;
  /** Where progress goes (default stderr): a bar on a TTY, a plain line every 2 s otherwise. */
  progressOut?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface CostSimulateReport extends SimulationResult {
  /** Process peak resident set size, MB (`process.resourceUsage().maxRSS`). */
  peakRssMb: number;
}

/** Parses the flags of `twins cost simulate` (everything after `simulate`). */
export function parseCostSimulateArgs(argv: string[]): CostSimulateArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        twins: { type: 'string', default: String(DEFAULT_TRACE.twins) },
        days: { type: 'string', default: String(DEFAULT_TRACE.days) },
        seed: { type: 'string', default: String(DEFAULT_TRACE.seed) },
        json: { type: 'boolean', default: false },
        'sample-every': { type: 'string', default: '1' },
        prices: { type: 'string' },
        'image-fraction': { type: 'string', default: String(DEFAULT_TRACE.imageFraction) },
        'product-scale': { type: 'string', default: '1' },
      },
    }));
  } catch (e) {
    throw new CostSimulateUsageError((e as Error).message);
  }
  const int = (name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new CostSimulateUsageError(`--${name} must be an integer from ${min} to ${max}, got ${v}`);
    }
    return n;
  };
  const imageFraction = Number(values['image-fraction']);
  if (!(imageFraction >= 0 && imageFraction <= 1)) {
    throw new CostSimulateUsageError(`--image-fraction must be a number from 0 to 1`);
  }
  const productScale = Number(values['product-scale']);
  if (!(productScale > 0) || !Number.isFinite(productScale)) {
    throw new CostSimulateUsageError(`--product-scale must be a positive number`);
  }
  return {
    twins: int('twins', values.twins, 1, 100_000_000),
    days: int('days', values.days, 2, 36_500),
    seed: int('seed', values.seed, -2_147_483_648, 2_147_483_647),
    json: values.json,
    sampleEvery: int('sample-every', values['sample-every'], 1),
    pricesPath: values.prices,
    imageFraction,
    productScale,
  };
}

/**
 * `twins cost simulate`: runs the tiering simulation and prints the per-policy cost table (or JSON).
 */
export async function costSimulateCommand(args: CostSimulateArgs = {}): Promise<CostSimulateReport> {
  const out = args.out ?? process.stdout;
  const progressOut = args.progressOut ?? process.stderr;
  const prices = simPricesFromTable(loadPriceTable(args.pricesPath));
  const twins = args.twins ?? DEFAULT_TRACE.twins;
  const progress = startProgress(args.progress !== false, progressOut, twins);
  let result: SimulationResult;
  try {
    result = await simulateAsync({
      trace: {
        twins,
        days: args.days ?? DEFAULT_TRACE.days,
        seed: args.seed ?? DEFAULT_TRACE.seed,
        imageFraction: args.imageFraction ?? DEFAULT_TRACE.imageFraction,
      },
      prices,
      sampleEvery: args.sampleEvery ?? 1,
      productScale: args.productScale ?? 1,
      progressEvery: 10_000,
      onProgress: (done) => progress.update(done),
    });
  } finally {
    progress.stop();
  }
  const report: CostSimulateReport = { ...result, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  if (args.json) {
    out.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    out.write(
      `${formatSimulation(result)}\nsimulated in ${(result.elapsedMs / 1000).toFixed(1)} s, peak RSS ${report.peakRssMb.toFixed(0)} MB\n`,
    );
  }
  return report;
}

/**
 * The `simulate` entry of `COST_SUBCOMMANDS`: parses `args` (the flags after `twins cost simulate`), runs the
 * simulation with the report on `io.out` and progress on `io.err`; 0 on success, 2 on a usage error (message
 * and usage on `io.err`).
 */
export async function runSimulate(
  args: string[],
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream },
): Promise<number> {
  let parsed: CostSimulateArgs;
  try {
    parsed = parseCostSimulateArgs(args);
  } catch (e) {
    if (!(e instanceof CostSimulateUsageError)) throw e;
    io.err.write(`${e.message}\n\n${COST_SIMULATE_USAGE}\n`);
    return 2;
  }
  await costSimulateCommand({ ...parsed, out: io.out, progressOut: io.err });
  return 0;
}

/** `runSimulate` on the process's stdout and stderr. */
export function costSimulateCli(argv: string[]): Promise<number> {
  return runSimulate(argv, { out: process.stdout, err: process.stderr });
}

interface Progress {
  update(done: number): void;
  stop(): void;
}

function startProgress(
  enabled: boolean,
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  total: number,
): Progress {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const started = performance.now();
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        stream,
        format: 'simulate [{bar}] {percentage}% | {value}/{total} twins | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (done) => bar.update(done), stop: () => bar.stop() };
  }
  let done = 0;
  let lastLine = started;
  const line = () => {
    const seconds = (performance.now() - started) / 1000;
    stream.write(
      `simulate: ${done}/${total} twins (${((100 * done) / total).toFixed(1)}%), ${seconds.toFixed(1)} s\n`,
    );
  };
  return {
    update: (n) => {
      done = n;
      if (performance.now() - lastLine >= 2000) {
        lastLine = performance.now();
        line();
      }
    },
    stop: line,
  };
}
