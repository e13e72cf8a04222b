// Per-host counters the tests read to check how a verifier behaved (connections, concurrency,
// RCPTs, replies): they are the sandbox's observable side, so they count exactly what crossed the wire.
import type { HostCounters } from './world-types.js';

export function emptyCounters(address: string): HostCounters {
  return {
    address,
    connections: 0,
    currentConnections: 0,
    maxConcurrentConnections: 0,
    rejectedConnections: 0,
    rcpts: 0,
    rcptsByDomain: {},
    replies: {},
    commands: {},
    dataAttempts: 0,
    tlsUpgrades: 0,
  };
}

/** Everything back to zero except the live gauge; the high-water mark restarts from it. */
export function resetCounters(c: HostCounters): void {
  const current = c.currentConnections;
  Object.assign(c, emptyCounters(c.address), { currentConnections: current, maxConcurrentConnections: current });
}

export function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

export function snapshot(c: HostCounters): HostCounters {
  return { ...c, rcptsByDomain: { ...c.rcptsByDomain }, replies: { ...c.replies }, commands: { ...c.commands } };
}
