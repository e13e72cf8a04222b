// A reading of the database that callers arriving within a short time share: counts that scan whole
// tables (the metrics, the backlog behind a bulk's estimate) are made once per period, however many ask.
// A failed reading is not kept, and a clock stepped back makes the kept one count as old.

export type SharedReading<T> = (now?: number) => Promise<T>;

export function sharedReading<T>(periodMs: number, read: (now: number) => Promise<T>): SharedReading<T> {
  let kept: { at: number; value: Promise<T> } | null = null;
  return (now = Date.now()) => {
    if (kept && now - kept.at < periodMs && now >= kept.at) return kept.value;
    const entry = { at: now, value: read(now) };
    kept = entry;
    entry.value.catch(() => {
      if (kept === entry) kept = null;
    });
    return entry.value;
  };
}
