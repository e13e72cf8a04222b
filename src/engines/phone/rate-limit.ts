// Per-provider rate limit: a token bucket that never waits. When a vendor's quota is used up the
// waterfall moves on to the next provider instead of holding a worker slot asleep; a search that no
// provider could then answer goes back to the queue with a slot of its own (see nextSlotIn).

/** how long a slot's token is kept for the search it was given to, which comes back a little late (a worker's poll, a claim) */
const SLOT_GRACE_MS = 5000;

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;
  /** times of the slots handed out and not used yet, in order */
  private slots: number[] = [];

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

  /**
   * Takes one token if available; false means "over the limit right now". A token whose slot has come
   * belongs to the search the slot was given to: only a search coming back from a wait (`waited`) takes
   * it, so that searches arriving fresh cannot keep those turned away before waiting for ever.
   */
  tryTake(opts: { waited?: boolean } = {}): boolean {
    const t = this.refill();
    const held = opts.waited ? 0 : this.slots.filter((s) => s <= t).length;
    if (this.tokens < 1 + held) return false;
    this.tokens -= 1;
    if (opts.waited && this.slots.length && this.slots[0]! <= t + SLOT_GRACE_MS) this.slots.shift();
    return true;
  }

  /**
   * How long a search turned away now should wait: the next free slot after those already handed out
   * (one token's time apart), so that a hundred searches turned away together come back one by one at
   * the provider's rate, not all at once to be turned away again.
   */
  nextSlotIn(): number {
    const t = this.refill();
    const interval = 1000 / this.perSecond;
    const firstToken = t + Math.max(0, 1 - this.tokens) * interval;
    const last = this.slots[this.slots.length - 1];
    return Math.ceil((last === undefined ? firstToken : Math.max(firstToken, last + interval)) - t);
  }

  /** Hands out the slot nextSlotIn() named. */
  takeSlot(): void {
    this.slots.push(this.now() + this.nextSlotIn());
  }

  private refill(): number {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    // a search that never came back for its slot (moved to another process, cancelled) lets it go
    while (this.slots.length && this.slots[0]! < t - SLOT_GRACE_MS) this.slots.shift();
    return t;
  }
}
