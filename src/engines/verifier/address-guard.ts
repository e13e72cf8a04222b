// The prober is a door into the operator's network: anyone can submit x@their-domain whose MX
// points at 10.0.0.5 or 169.254.169.254. Every address of every mail host is checked with the same
// policy as the webhook SSRF guard before any connection, and a single refused address refuses all.
import { classifyAddress, isAllowedAddress, type CidrList } from '../../net/address-policy.js';

export interface GuardRefusal {
  host: string;
  ip: string;
  range: string;
}

export function refusedAddress(host: string, ips: string[], allow: CidrList): GuardRefusal | undefined {
  for (const ip of ips) {
    const c = classifyAddress(ip);
    if (c.blocked && !isAllowedAddress(ip, allow)) return { host, ip, range: c.range ?? 'non-public' };
  }
  return undefined;
}
