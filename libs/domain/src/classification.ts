export const CLASSIFICATIONS = ['hot', 'warm', 'cold'] as const;
export type Classification = (typeof CLASSIFICATIONS)[number];

/** Cache TTL in seconds by lead classification (the reference design's table); 0 means "do not cache". */
export const CACHE_TTL_SECONDS: Readonly<Record<Classification, number>> = { hot: 3600, warm: 300, cold: 0 };

export function cacheTtlSeconds(classification: Classification): number {
  return CACHE_TTL_SECONDS[classification];
}
