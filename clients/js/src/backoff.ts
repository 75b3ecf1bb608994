export interface BackoffOptions {
  /** Cap of the first retry's delay, ms (default 500). */
  baseMs?: number;
  /**
   * Cap of any delay, ms (default 10000). Peers cap at 5 s (Socket.IO, Phoenix) to 20 s
   * (centrifuge-js); with full jitter a page waits on average half the cap once a long outage
   * ends, so 10 s brings it back within 10 s (5 s on average) while a fleet's pages, all at
   * the cap, try about once per 5 s each.
   */
  maxMs?: number;
}

/**
 * Exponential backoff with full jitter: a delay drawn uniformly from
 * [0, min(maxMs, baseMs * 2^attempt)). `attempt` counts failures since the last open, from 0.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 10000;
  const cap = Math.min(max, base * Math.pow(2, Math.min(attempt, 30)));
  return Math.floor(random() * cap);
}
