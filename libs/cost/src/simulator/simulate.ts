import {
  accountPath,
  B_COLD_READS,
  B_DAYS_COLD,
  B_DAYS_HOT,
  B_DAYS_WARM,
  B_MOVES,
  B_OPERATIONS,
  B_PENALTIES,
  B_REHYDRATIONS,
  B_STORAGE,
  B_TRANSITIONS,
  breakdownTotal,
  newBreakdown,
} from './accounting';
import { OptimumSolver } from './optimum';
import { accountThresholdPolicy, ProductThresholds, productThresholds, staticThresholds } from './policies';
import {
  CostOptions,
  emptyTierCosts,
  HOT,
  SimPrices,
  simPricesFromTable,
  TierCosts,
  tierCostsInto,
} from './tier-costs';
import { generateTwin, newTwinTrace, planTrace, TraceParams, TracePlan } from './trace';

export const POLICIES = ['allHot', 'static', 'product', 'optimum'] as const;
export type PolicyName = (typeof POLICIES)[number];
export const POLICY_LABELS: Record<PolicyName, string> = {
  allHot: 'all hot (Cosmos + Hot blob)',
  static: 'static 30/365 (reference)',
  product: 'product (break-even)',
  optimum: 'offline optimum',
};

export interface SimulateOptions {
  trace?: Partial<TraceParams>;
  prices?: SimPrices;
  cost?: CostOptions;
  /** Multiplier of the product policy's break-even thresholds (default 1). */
  productScale?: number;
  /** Simulate one twin in `sampleEvery` (every k-th index) and scale the sums by k (default 1: all twins). */
  sampleEvery?: number;
  /** Called every `progressEvery` simulated twins (default 10,000). */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

export interface PolicyResult {
  policy: PolicyName;
  label: string;
  totalUsd: number;
  storageUsd: number;
  operationsUsd: number;
  transitionsUsd: number;
  penaltiesUsd: number;
  /** total / optimum total. */
  ratioToOptimum: number;
  moves: number;
  rehydrations: number;
  coldReads: number;
  twinDays: { hot: number; warm: number; cold: number };
}

export interface SimulationResult {
  trace: TraceParams;
  prices: string;
  bundleBytes?: number;
  productScale: number;
  campaigns: number;
  sampleEvery: number;
  simulatedTwins: number;
  totals: { reads: number; writes: number; campaignReads: number; twinDays: number };
  policies: PolicyResult[];
  /** Twins for which an online policy came out cheaper than the optimum (must be 0). */
  optimumViolations: number;
  elapsedMs: number;
}

/** Accumulated state of a run; `simulateRange` can be called on consecutive index ranges. */
export interface SimulationRun {
  plan: TracePlan;
  prices: SimPrices;
  options: SimulateOptions;
  sums: Record<PolicyName, Float64Array>;
  reads: number;
  writes: number;
  campaignReads: number;
  twinDays: number;
  simulated: number;
  violations: number;
  started: number;
  solver: OptimumSolver;
  tiers: Uint8Array;
  twin: ReturnType<typeof newTwinTrace>;
  static: ProductThresholds;
  costs: TierCosts;
}

export function startSimulation(options: SimulateOptions = {}): SimulationRun {
  const plan = planTrace(options.trace);
  const sampleEvery = options.sampleEvery ?? 1;
  if (!Number.isSafeInteger(sampleEvery) || sampleEvery < 1) throw new RangeError('sampleEvery must be >= 1');
  const prices = options.prices ?? simPricesFromTable();
  const maxMin = Math.max(
    prices.blob.hot.minStayDays,
    prices.blob.cool.minStayDays,
    prices.blob.archive.minStayDays,
  );
  return {
    plan,
    prices,
    options,
    sums: {
      allHot: newBreakdown(),
      static: newBreakdown(),
      product: newBreakdown(),
      optimum: newBreakdown(),
    },
    reads: 0,
    writes: 0,
    campaignReads: 0,
    twinDays: 0,
    simulated: 0,
    violations: 0,
    started: performance.now(),
    solver: new OptimumSolver(plan.params.days, maxMin),
    tiers: new Uint8Array(plan.params.days),
    twin: newTwinTrace(plan.params.days),
    static: staticThresholds(),
    costs: emptyTierCosts(),
  };
}

/** Simulates twins with index in [from, to) (only every `sampleEvery`-th). */
export function simulateRange(run: SimulationRun, from: number, to: number): void {
  const { plan, prices, options, sums, solver, tiers, twin } = run;
  const D = plan.params.days;
  const every = options.sampleEvery ?? 1;
  const scale = options.productScale ?? 1;
  const start = Math.ceil(from / every) * every;
  for (let i = start; i < to; i += every) {
    generateTwin(plan, i, twin);
    const { reads, writes, created } = twin;
    const costs = tierCostsInto(run.costs, prices, twin.size, options.cost);
    run.reads += twin.totalReads;
    run.writes += twin.totalWrites;
    run.campaignReads += twin.campaignReads;
    run.twinDays += D - created;

    const hot = accountAllHot(costs, twin, D, sums.allHot);
    const stat = accountThresholdPolicy(costs, reads, writes, created, D, run.static, sums.static);
    const thresholds = productThresholds(costs, { scale });
    const product = accountThresholdPolicy(costs, reads, writes, created, D, thresholds, sums.product);
    solver.solve(costs, reads, writes, created, D, tiers);
    const optimum = accountPath(costs, reads, writes, tiers, created, D, sums.optimum);
    const eps = 1e-12 + optimum * 1e-9;
    if (hot < optimum - eps || stat < optimum - eps || product < optimum - eps) run.violations++;
    run.simulated++;
  }
}

/**
 * All hot in closed form (no tier ever changes): days x hot storage + reads and writes at hot prices. Equal to
 * `accountPath` of an all-hot sequence (unit-tested).
 */
export function accountAllHot(
  costs: TierCosts,
  twin: { created: number; totalReads: number; totalWrites: number },
  days: number,
  out: Float64Array,
): number {
  const storage = (days - twin.created) * costs.storagePerDay[HOT];
  const operations = twin.totalReads * costs.read[HOT] + twin.totalWrites * costs.write[HOT];
  out[B_STORAGE] += storage;
  out[B_OPERATIONS] += operations;
  out[B_DAYS_HOT] += days - twin.created;
  return storage + operations;
}

export function finishSimulation(run: SimulationRun): SimulationResult {
  const every = run.options.sampleEvery ?? 1;
  const optimumTotal = breakdownTotal(run.sums.optimum) * every;
  const policies = POLICIES.map((policy): PolicyResult => {
    const b = run.sums[policy];
    const total = breakdownTotal(b) * every;
    return {
      policy,
      label: POLICY_LABELS[policy],
      totalUsd: total,
      storageUsd: b[B_STORAGE] * every,
      operationsUsd: b[B_OPERATIONS] * every,
      transitionsUsd: b[B_TRANSITIONS] * every,
      penaltiesUsd: b[B_PENALTIES] * every,
      ratioToOptimum: optimumTotal > 0 ? total / optimumTotal : 1,
      moves: b[B_MOVES] * every,
      rehydrations: b[B_REHYDRATIONS] * every,
      coldReads: b[B_COLD_READS] * every,
      twinDays: { hot: b[B_DAYS_HOT] * every, warm: b[B_DAYS_WARM] * every, cold: b[B_DAYS_COLD] * every },
    };
  });
  return {
    trace: run.plan.params,
    prices: run.prices.source,
    bundleBytes: run.options.cost?.bundleBytes,
    productScale: run.options.productScale ?? 1,
    campaigns: run.plan.campaigns.length,
    sampleEvery: every,
    simulatedTwins: run.simulated,
    totals: {
      reads: run.reads * every,
      writes: run.writes * every,
      campaignReads: run.campaignReads * every,
      twinDays: run.twinDays * every,
    },
    policies,
    optimumViolations: run.violations,
    elapsedMs: performance.now() - run.started,
  };
}

/** Runs the whole simulation synchronously. */
export function simulate(options: SimulateOptions = {}): SimulationResult {
  const run = startSimulation(options);
  const n = run.plan.params.twins;
  const step = options.progressEvery ?? 10_000;
  for (let from = 0; from < n; from += step) {
    simulateRange(run, from, Math.min(n, from + step));
    options.onProgress?.(Math.min(n, from + step), n);
  }
  return finishSimulation(run);
}

/** Same as `simulate`, yielding to the event loop between chunks (progress bars, signals). */
export async function simulateAsync(options: SimulateOptions = {}): Promise<SimulationResult> {
  const run = startSimulation(options);
  const n = run.plan.params.twins;
  const step = options.progressEvery ?? 10_000;
  for (let from = 0; from < n; from += step) {
    simulateRange(run, from, Math.min(n, from + step));
    options.onProgress?.(Math.min(n, from + step), n);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return finishSimulation(run);
}
