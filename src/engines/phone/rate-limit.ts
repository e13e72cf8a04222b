// Per-provider rate limit: a token bucket that never waits. When a vendor's quota is used up the
// waterfall moves on to the next provider instead of holding a worker slot asleep.

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;

  /** `perSecond` tokens refill each second; bursts up to max(1, perSecond). */
  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) throw new Error('rate must be a positive number');
    this.capacity = Math.max(1, perSecond);
    this.tokens = this.capacity;
    this.last = this.now();
  }

  /** Takes one token if available; false means "over the limit right now". */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** How long until a token is there (0: one is there now). */
  msUntilToken(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  private refill() {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }
}
