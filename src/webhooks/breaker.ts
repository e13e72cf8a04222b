// Per-origin circuit breaker (after Convoy): when most recent requests to an origin fail, stop sending
// there for a while so its deliveries wait in the store instead of holding connections and slots.
// Closed → open at ≥ failureRatio failures over the window with ≥ minRequests requests; open → half-open
// after openMs, where one probe is let through; its success closes the breaker, its failure reopens it.

export interface BreakerOptions {
  failureRatio: number;
  minRequests: number;
  windowMs: number;
  openMs: number;
}

export const DEFAULT_BREAKER_OPTIONS: BreakerOptions = { failureRatio: 0.7, minRequests: 10, windowMs: 5 * 60_000, openMs: 30_000 };

const MAX_EVENTS = 2000;

export type BreakerState = 'closed' | 'open' | 'half-open';

interface OriginCircuit {
  state: BreakerState;
  /** outcomes inside the window, oldest first */
  events: Array<{ at: number; ok: boolean }>;
  openedAt: number;
  probeInFlight: boolean;
}

export type BreakerVerdict = { allowed: true; probe: boolean } | { allowed: false; retryAt: number };

export class CircuitBreakers {
  private readonly circuits = new Map<string, OriginCircuit>();
  private readonly opts: BreakerOptions;

  constructor(opts: Partial<BreakerOptions> = {}) {
    this.opts = { ...DEFAULT_BREAKER_OPTIONS, ...opts };
  }

  /**
   * May a request to this origin start now? A half-open circuit admits a single probe at a time;
   * `reserve: false` only looks, without taking the probe slot.
   */
  check(origin: string, now: number, reserve = true): BreakerVerdict {
    const c = this.circuits.get(origin);
    if (!c || c.state === 'closed') return { allowed: true, probe: false };
    if (c.state === 'open') {
      const retryAt = c.openedAt + this.opts.openMs;
      if (now < retryAt) return { allowed: false, retryAt };
      if (reserve) c.state = 'half-open';
    }
    if (c.probeInFlight) return { allowed: false, retryAt: now + Math.min(this.opts.openMs, 1000) };
    if (reserve) c.probeInFlight = true;
    return { allowed: true, probe: true };
  }

  /** `probe`: this outcome is the half-open probe's (check() reserved it); only that one decides an open circuit. */
  record(origin: string, ok: boolean, now: number, probe = false): void {
    let c = this.circuits.get(origin);
    if (!c) {
      if (ok) return; // healthy origins cost nothing until their first failure
      c = { state: 'closed', events: [], openedAt: 0, probeInFlight: false };
      this.circuits.set(origin, c);
    }
    if (c.state !== 'closed') {
      // only the probe's outcome decides; stragglers started before the breaker opened are ignored,
      // even when they finish while the probe is out
      if (!probe || !c.probeInFlight) return;
      c.probeInFlight = false;
      if (ok) {
        this.circuits.delete(origin);
      } else {
        c.state = 'open';
        c.openedAt = now;
      }
      return;
    }
    c.events.push({ at: now, ok });
    const from = now - this.opts.windowMs;
    let drop = 0;
    while (drop < c.events.length && c.events[drop]!.at < from) drop++;
    // a busy origin keeps a representative recent sample, not every request of the window
    drop = Math.max(drop, c.events.length - MAX_EVENTS);
    if (drop) c.events.splice(0, drop);
    const failures = c.events.reduce((n, e) => n + (e.ok ? 0 : 1), 0);
    if (failures === 0) {
      this.circuits.delete(origin);
      return;
    }
    if (c.events.length >= this.opts.minRequests && failures / c.events.length >= this.opts.failureRatio) {
      c.state = 'open';
      c.openedAt = now;
      c.events = [];
    }
  }

  /** A probe that never produced an outcome (released, aborted) must not keep the circuit half-open forever. */
  cancelProbe(origin: string): void {
    const c = this.circuits.get(origin);
    if (c) c.probeInFlight = false;
  }

  state(origin: string, now: number): BreakerState {
    const c = this.circuits.get(origin);
    if (!c) return 'closed';
    if (c.state === 'open' && now >= c.openedAt + this.opts.openMs) return 'half-open';
    return c.state;
  }

  /** Origins whose circuit is not closed, for stats. */
  snapshot(now: number): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const origin of this.circuits.keys()) {
      const s = this.state(origin, now);
      if (s !== 'closed') out[origin] = s;
    }
    return out;
  }
}
