// The order in which queued items are taken: each item of a search is placed one step after the one
// before it, from the time the search was accepted. A 5,000-item bulk therefore spreads over 5,000 steps,
// and a search accepted meanwhile (another account's single, say) is taken as soon as the bulk has
// started the items placed before it, instead of after the whole bulk. The place never delays an item
// (an idle worker takes the bulk at full speed; only `run_at` says when an item is due): it only
// decides who goes first when there is more work than workers. Fair per search, which is what a
// waiting client sees; an account with several bulks gets a share for each.
export const FAIR_STEP_MS = 1000;

/** The place of item `idx` of a search accepted at `acceptedAt`. */
export const fairPlace = (acceptedAt: number, idx: number): number => acceptedAt + idx * FAIR_STEP_MS;
