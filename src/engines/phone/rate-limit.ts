// Per-provider rate limit: a token bucket that never waits. When a vendor's quota is used up the
// waterfall moves on to the next provider instead of holding a worker slot asleep.

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;
  /** when the next slot handed out by takeSlot() begins */
  private slotAt = 0;

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

  /**
   * How long a caller turned away now should wait: each one is given the next free slot after those
   * already handed out (one token's time apart), so that a hundred searches turned away together come
   * back one by one at the provider's rate, not all at once to be turned away again.
   */
  nextSlotIn(): number {
    this.refill();
    const t = this.now();
    const interval = 1000 / this.perSecond;
    const firstToken = t + (this.tokens >= 1 ? 0 : (1 - this.tokens) * interval);
    return Math.ceil(Math.max(this.slotAt, firstToken) - t);
  }

  /** Hands out the slot nextSlotIn() named. */
  takeSlot(): void {
    const t = this.now();
    this.slotAt = t + this.nextSlotIn() + 1000 / this.perSecond;
  }

  private refill() {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }
}
