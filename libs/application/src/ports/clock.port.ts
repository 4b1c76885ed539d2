/** Time is a port: tiering and versioning are tested over simulated years in seconds. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
