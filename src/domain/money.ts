// Credits are decimals with at most two places; everything internal is integer hundredths ("cents").

export const PRICE_CENTS = { find: 100, verify: 25, phone: 5000 } as const;

/** Parses a user-given amount (number or string) into cents; rejects more than two decimals. */
export function toCents(amount: number | string): number {
  const text = typeof amount === 'number' ? String(amount) : amount.trim();
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(text);
  if (!m) throw new Error(`invalid credit amount: ${amount} (a non-negative number with at most two decimals)`);
  const cents = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  if (!Number.isSafeInteger(cents)) throw new Error(`credit amount too large: ${amount}`);
  return cents;
}

/** Cents back to the decimal number the API shows (25 → 0.25): exact for every two-place decimal. */
export function fromCents(cents: number): number {
  return Number((cents / 100).toFixed(2));
}

export interface Split {
  fromSub: number;
  fromPaygo: number;
}

/** Reservations take from the subscription balance first. */
export function splitReservation(total: number, sub: number): Split {
  const fromSub = Math.min(total, sub);
  return { fromSub, fromPaygo: total - fromSub };
}

export function creditsObject(split: Split) {
  const source = split.fromPaygo === 0 ? 'sub' : split.fromSub === 0 ? 'paygo' : 'mixed';
  return {
    amount: fromCents(split.fromSub + split.fromPaygo),
    source,
    split: { fromPaygo: fromCents(split.fromPaygo), fromSub: fromCents(split.fromSub) },
  };
}
