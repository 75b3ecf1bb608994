export interface BackoffOptions {
  /** Cap of the first retry's delay, ms (default 500). */
  baseMs?: number;
  /** Cap of any delay, ms (default 30000). */
  maxMs?: number;
}

/**
 * Exponential backoff with full jitter: a delay drawn uniformly from
 * [0, min(maxMs, baseMs * 2^attempt)). `attempt` counts failures since the last open, from 0.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30000;
  const cap = Math.min(max, base * Math.pow(2, Math.min(attempt, 30)));
  return Math.floor(random() * cap);
}
