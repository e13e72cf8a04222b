import { randomBytes } from 'node:crypto';

// Ids are UUIDv7: unique across kinds and roughly time-ordered, which keeps index inserts local, and
// keeps rows written together on the same pages of tables clustered by id (the outbox is WITHOUT ROWID
// on SQLite: with random ids, a batch of deliveries touched a page each).
// Random bytes are drawn in blocks: one system call per 256 ids instead of one per id.
let pool = Buffer.alloc(0);
let offset = 0;
function random16(): Buffer {
  if (offset + 16 > pool.length) {
    pool = randomBytes(16 * 256);
    offset = 0;
  }
  const b = Buffer.from(pool.subarray(offset, offset + 16));
  offset += 16;
  return b;
}

function uuidv7Hex(): string {
  const b = random16();
  const ms = Date.now();
  // 48-bit milliseconds, big-endian (exact in a double up to 2^53)
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b.toString('hex');
}

/** Search ids: UUIDv7 in the usual dashed form (the API returns them). */
export function newSearchId(): string {
  const h = uuidv7Hex();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Internal ids: a prefix naming the kind, then a UUIDv7 as 32 hex digits (`msg_0190f5c2…`). */
export const newId = (prefix: string) => `${prefix}_${uuidv7Hex()}`;

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
