import { COLD, HOT, TierCosts, WARM } from './tier-costs';

/**
 * The offline optimum for one twin: a dynamic program over days x tiers that knows the whole future (every
 * day's reads and writes) and chooses the cheapest tier sequence under exactly the cost function of
 * `accountPath` (storage per day, operations per tier, transition costs, early-deletion penalties).
 *
 * Minimum stays make the state "tier + days spent in it", which would be ~210 states a day. Two facts keep
 * it to O(1) amortised work per day:
 * 1. The penalty for leaving tier t after k < m days is (m - k) x b (b = blob storage per day), so a stay of
 *    L days costs max(L, m) x b in blob storage. Charging m x b when entering ("prepaid") and b a day only
 *    after the m-th day gives the same total for every stay, and leaving is then free. A stay cut short by
 *    the end of the horizon is refunded the unused prepaid days (`accountPath` charges no penalty there).
 * 2. Among the states "in t since day e" with e younger than m days, all pay the same daily costs until they
 *    age past m; a newer entry with a value <= an older one dominates it (it starts paying b later). So the
 *    live young states form a monotonic deque (values increasing from oldest to newest), the cheapest is at
 *    the front, and each state is pushed and popped once. States older than m days merge into one.
 * Back-pointers (per day, per "entered tier" event) rebuild the optimal tier sequence.
 */
export class OptimumSolver {
  private readonly bpH: Int32Array;
  private readonly bpW: Int32Array;
  private readonly bpC: Int32Array;
  private readonly qVal: Float64Array[];
  private readonly qEntry: Int32Array[];
  private readonly size: number;

  /** `maxDays`: the longest horizon; `maxMinStay`: the largest minimum stay of any tier. */
  constructor(maxDays: number, maxMinStay: number) {
    this.bpH = new Int32Array(maxDays);
    this.bpW = new Int32Array(maxDays);
    this.bpC = new Int32Array(maxDays);
    let size = 4;
    while (size < maxMinStay + 2) size *= 2;
    this.size = size;
    this.qVal = [new Float64Array(size), new Float64Array(size)];
    this.qEntry = [new Int32Array(size), new Int32Array(size)];
  }

  /**
   * Fills `tiers[from..to)` with an optimal sequence (hot on day `from`, the creation day) and returns its
   * cost, which equals `accountPath` of that sequence.
   */
  solve(
    costs: TierCosts,
    reads: ArrayLike<number>,
    writes: ArrayLike<number>,
    from: number,
    to: number,
    tiers: Uint8Array,
  ): number {
    const { storagePerDay: s, blobStoragePerDay: b, minStayDays, read, write, transition: tr } = costs;
    const mW = minStayDays[WARM];
    const mC = minStayDays[COLD];
    if (mW + 2 > this.size || mC + 2 > this.size) throw new RangeError('minimum stay longer than the solver');
    if (to > this.bpH.length) throw new RangeError('horizon longer than the solver');
    const { bpH, bpW, bpC } = this;
    const mask = this.size - 1;
    const [wVal, cVal] = this.qVal;
    const [wEnt, cEnt] = this.qEntry;
    const trHW = tr[HOT * 3 + WARM];
    const trHC = tr[HOT * 3 + COLD];
    const trWH = tr[WARM * 3 + HOT];
    const trWC = tr[WARM * 3 + COLD];
    const trCH = tr[COLD * 3 + HOT];
    const trCW = tr[COLD * 3 + WARM];
    const prepaidW = mW * b[WARM];
    const prepaidC = mC * b[COLD];
    const youngW = s[WARM] - b[WARM];
    const youngC = s[COLD] - b[COLD];

    // Day `from`: created hot.
    let h = s[HOT] + reads[from] * read[HOT] + writes[from] * write[HOT];
    // Warm: deque [wHead, wTail) in a ring of `size`, raw values (add wOff), and the merged "aged" state.
    let wHead = 0;
    let wTail = 0;
    let wOff = 0;
    let wCap = Infinity;
    let wCapEntry = -1;
    let cHead = 0;
    let cTail = 0;
    let cOff = 0;
    let cCap = Infinity;
    let cCapEntry = -1;

    for (let d = from + 1; d < to; d++) {
      // States that have now spent m days in their tier start paying blob storage daily: merge them.
      while (wHead !== wTail && d - wEnt[wHead & mask] >= mW) {
        const v = wVal[wHead & mask] + wOff;
        if (v < wCap) {
          wCap = v;
          wCapEntry = wEnt[wHead & mask];
        }
        wHead++;
      }
      while (cHead !== cTail && d - cEnt[cHead & mask] >= mC) {
        const v = cVal[cHead & mask] + cOff;
        if (v < cCap) {
          cCap = v;
          cCapEntry = cEnt[cHead & mask];
        }
        cHead++;
      }
      // Cheapest state of each tier at the end of day d-1 (leaving is free: penalties are prepaid).
      let pw = wCap;
      let pwEntry = wCapEntry;
      if (wHead !== wTail) {
        const v = wVal[wHead & mask] + wOff;
        if (v < pw) {
          pw = v;
          pwEntry = wEnt[wHead & mask];
        }
      }
      let pc = cCap;
      let pcEntry = cCapEntry;
      if (cHead !== cTail) {
        const v = cVal[cHead & mask] + cOff;
        if (v < pc) {
          pc = v;
          pcEntry = cEnt[cHead & mask];
        }
      }

      const r = reads[d];
      const w = writes[d];
      let opsH = 0;
      let opsW = 0;
      let opsC = 0;
      if (r !== 0 || w !== 0) {
        opsH = r * read[HOT] + w * write[HOT];
        opsW = r * read[WARM] + w * write[WARM];
        opsC = r * read[COLD] + w * write[COLD];
      }

      // Hot today: stay, or come back from warm / cold.
      let nh = h;
      let predH = 0;
      if (pw + trWH < nh) {
        nh = pw + trWH;
        predH = encode(WARM, pwEntry);
      }
      if (pc + trCH < nh) {
        nh = pc + trCH;
        predH = encode(COLD, pcEntry);
      }
      // Enter warm today: from hot or cold.
      let ew = h + trHW;
      let predW = 0;
      if (pc + trCW < ew) {
        ew = pc + trCW;
        predW = encode(COLD, pcEntry);
      }
      // Enter cold today: from hot or warm.
      let ec = h + trHC;
      let predC = 0;
      if (pw + trWC < ec) {
        ec = pw + trWC;
        predC = encode(WARM, pwEntry);
      }
      bpH[d] = predH;
      bpW[d] = predW;
      bpC[d] = predC;

      h = nh + s[HOT] + opsH;
      wOff += youngW + opsW;
      if (wCap !== Infinity) wCap += s[WARM] + opsW;
      cOff += youngC + opsC;
      if (cCap !== Infinity) cCap += s[COLD] + opsC;

      if (mW > 0) {
        const v = ew + prepaidW + youngW + opsW;
        while (wHead !== wTail && wVal[(wTail - 1) & mask] + wOff >= v) wTail--;
        wVal[wTail & mask] = v - wOff;
        wEnt[wTail & mask] = d;
        wTail++;
      } else {
        const v = ew + s[WARM] + opsW;
        if (v < wCap) {
          wCap = v;
          wCapEntry = d;
        }
      }
      if (mC > 0) {
        const v = ec + prepaidC + youngC + opsC;
        while (cHead !== cTail && cVal[(cTail - 1) & mask] + cOff >= v) cTail--;
        cVal[cTail & mask] = v - cOff;
        cEnt[cTail & mask] = d;
        cTail++;
      } else {
        const v = ec + s[COLD] + opsC;
        if (v < cCap) {
          cCap = v;
          cCapEntry = d;
        }
      }
    }

    // End of horizon: a stay younger than its minimum gets the unused prepaid days back.
    let best = h;
    let bestTier: number = HOT;
    let bestEntry = -1;
    if (wCap < best) {
      best = wCap;
      bestTier = WARM;
      bestEntry = wCapEntry;
    }
    for (let i = wHead; i < wTail; i++) {
      const e = wEnt[i & mask];
      const v = wVal[i & mask] + wOff - (mW - (to - e)) * b[WARM];
      if (v < best) {
        best = v;
        bestTier = WARM;
        bestEntry = e;
      }
    }
    if (cCap < best) {
      best = cCap;
      bestTier = COLD;
      bestEntry = cCapEntry;
    }
    for (let i = cHead; i < cTail; i++) {
      const e = cEnt[i & mask];
      const v = cVal[i & mask] + cOff - (mC - (to - e)) * b[COLD];
      if (v < best) {
        best = v;
        bestTier = COLD;
        bestEntry = e;
      }
    }

    // Rebuild the sequence backwards.
    let d = to - 1;
    let tier = bestTier;
    let entry = bestEntry;
    while (d >= from) {
      if (tier === HOT) {
        tiers[d] = HOT;
        if (d === from) break;
        const p = bpH[d];
        d--;
        if (p !== 0) {
          tier = p >>> 20;
          entry = p & 0xfffff;
        }
      } else {
        for (let i = entry; i <= d; i++) tiers[i] = tier;
        const p = tier === WARM ? bpW[entry] : bpC[entry];
        d = entry - 1;
        tier = p >>> 20;
        entry = p & 0xfffff;
      }
    }
    return best;
  }
}

function encode(tier: number, entry: number): number {
  return (tier << 20) | entry;
}
