// `openrow doctor`: can this machine verify mailboxes at all? Outbound port 25 blocked, a broken
// resolver, or an egress IP without matching reverse DNS and HELO name turn every answer into
// `unknown` (the first complaint of Reacher's users). Each check says what to fix in plain words.
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';
import { parseCidrList } from '../../net/address-policy.js';
import { refusedAddress } from './address-guard.js';
import { createMailDns } from './mail-dns.js';
import { SmtpSession } from './smtp-session.js';
import type { VerifierOptions } from './index.js';

/** The verifier's own network settings, so the doctor checks exactly what the engine will use. */
export type DoctorOptions = Pick<VerifierOptions, 'dnsServers' | 'smtpPort' | 'heloName' | 'mailFrom' | 'connectTimeoutMs' | 'stepTimeoutMs' | 'proxy' | 'allowCidrs'> & {
  /** a domain whose mail host is used to test outbound SMTP (default gmail.com) */
  probeDomain?: string;
};

export interface DoctorCheck {
  name: 'dns' | 'smtp_port' | 'reverse_dns' | 'helo_name';
  /** null: could not be checked (an earlier check failed, or the egress IP is not visible) */
  ok: boolean | null;
  detail: string;
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  egressIp: string | null;
  checks: DoctorCheck[];
}

/** 1.2.3.4 → 4.3.2.1.in-addr.arpa; IPv6 → nibbles under ip6.arpa */
function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const [head = '', tail = ''] = ip.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const full = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => g.padStart(4, '0')).join('');
  return `${full.split('').reverse().join('.')}.ip6.arpa`;
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const probeDomain = opts.probeDomain ?? 'gmail.com';
  const checks: DoctorCheck[] = [];
  const dns = createMailDns(opts.dnsServers, { timeoutMs: 3000, tries: 1, cacheTtlMs: 0 });
  const resolver = new dnsPromises.Resolver({ timeout: 3000, tries: 1 });
  if (opts.dnsServers?.length) resolver.setServers(opts.dnsServers);
  const resolverNames = opts.dnsServers?.length ? opts.dnsServers.join(', ') : 'the system resolvers';

  // 1. DNS
  const mail = await dns.mailHosts(probeDomain);
  let mxHost: string | undefined;
  if (mail.kind === 'hosts') {
    mxHost = mail.hosts[0]!.exchange;
    checks.push({ name: 'dns', ok: true, detail: `${resolverNames} answered: mail for ${probeDomain} goes to ${mail.hosts.map((h) => h.exchange).join(', ')}` });
  } else {
    checks.push({
      name: 'dns',
      ok: false,
      detail: `${resolverNames} gave no mail host for ${probeDomain} (${mail.kind === 'dns_error' ? mail.message : mail.kind})`,
      fix: 'Point OPENROW_DNS_SERVERS at a working recursive resolver (ip:port, comma separated), or fix the system resolver configuration.',
    });
  }

  // 2. outbound SMTP
  let egressIp: string | null = null;
  if (!mxHost) {
    checks.push({ name: 'smtp_port', ok: null, detail: 'not checked: no mail host to connect to (see the DNS check)' });
  } else {
    const addrs = await dns.addresses(mxHost);
    const ip = addrs.ok ? addrs.addresses[0] : undefined;
    const refused = ip ? refusedAddress(mxHost, [ip], parseCidrList(opts.allowCidrs)) : undefined;
    if (!ip) {
      checks.push({ name: 'smtp_port', ok: null, detail: `not checked: ${mxHost} has no address` });
    } else if (refused) {
      checks.push({
        name: 'smtp_port',
        ok: false,
        detail: `${mxHost} resolves to ${ip} (${refused.range}); the verifier refuses such addresses`,
        fix: 'Add the range to OPENROW_SMTP_ALLOW_CIDRS only if this mail host is yours (e.g. a local sandbox).',
      });
    } else {
      try {
        const session = await SmtpSession.open(
          { host: mxHost, ip, port: opts.smtpPort },
          { heloName: opts.heloName, mailFrom: opts.mailFrom, connectTimeoutMs: opts.connectTimeoutMs, stepTimeoutMs: opts.stepTimeoutMs ?? 15_000, proxy: opts.proxy, rcptsPerTransaction: 1 },
        );
        egressIp = opts.proxy ? null : session.localAddress?.replace(/^::ffff:/, '') ?? null;
        await session.quit();
        checks.push({ name: 'smtp_port', ok: true, detail: `connected to ${mxHost} (${ip}) port ${opts.smtpPort}${opts.proxy ? ' through the SOCKS5 proxy' : ''}, greeting and EHLO accepted${session.tls ? ', STARTTLS done' : ''}` });
      } catch (err) {
        checks.push({
          name: 'smtp_port',
          ok: false,
          detail: `could not talk SMTP with ${mxHost} (${ip}) port ${opts.smtpPort}: ${(err as Error).message}`,
          fix: opts.proxy
            ? 'Check that the SOCKS5 proxy in OPENROW_SMTP_PROXY is up and may connect to port 25.'
            : 'Outbound port 25 is blocked by most cloud providers and many ISPs. Ask your provider to open it, or set OPENROW_SMTP_PROXY=socks5://host:port to a host that can reach port 25.',
        });
      }
    }
  }

  // 3. reverse DNS of the egress IP, 4. HELO name consistency
  const heloLooksFqdn = opts.heloName.includes('.') && !/^localhost(\.|$)/i.test(opts.heloName) && !net.isIP(opts.heloName);
  let ptrNames: string[] = [];
  if (!egressIp) {
    checks.push({ name: 'reverse_dns', ok: null, detail: opts.proxy ? 'not checked: the egress address is the proxy\'s, not visible from here' : 'not checked: no SMTP connection was made' });
  } else {
    try {
      // resolvePtr asks DNS only; reverse() would also read /etc/hosts, which mail servers never see.
      ptrNames = (await resolver.resolvePtr(reverseName(egressIp))).map((n) => n.replace(/\.$/, '').toLowerCase());
    } catch {
      ptrNames = [];
    }
    const natNote = refusedAddress('egress', [egressIp], []) ? ` (${egressIp} is a private address: mail servers see your public NAT address; check its PTR record too)` : '';
    checks.push(
      ptrNames.length > 0
        ? { name: 'reverse_dns', ok: true, detail: `${egressIp} has reverse DNS ${ptrNames.join(', ')}${natNote}` }
        : {
            name: 'reverse_dns',
            ok: false,
            detail: `${egressIp} has no reverse DNS (PTR) record${natNote}`,
            fix: `Ask whoever owns ${egressIp} (your hosting provider) to set its PTR record to ${heloLooksFqdn ? opts.heloName : 'your HELO name'}; many mail servers refuse or distrust clients without one.`,
          },
    );
  }

  if (!heloLooksFqdn) {
    checks.push({
      name: 'helo_name',
      ok: false,
      detail: `HELO name "${opts.heloName}" is not a fully qualified domain name`,
      fix: 'Set OPENROW_SMTP_HELO_NAME to a fully qualified name that resolves to your egress IP and matches its PTR record.',
    });
  } else if (!egressIp) {
    checks.push({ name: 'helo_name', ok: null, detail: 'not checked against the egress address (not visible from here)' });
  } else {
    const a = await dns.addresses(opts.heloName);
    const resolves = a.ok && a.addresses.includes(egressIp);
    const matchesPtr = ptrNames.includes(opts.heloName.toLowerCase());
    const problems = [
      resolves ? null : `does not resolve to ${egressIp}${a.ok && a.addresses.length ? ` (it resolves to ${a.addresses.join(', ')})` : ''}`,
      matchesPtr ? null : `is not the PTR name of ${egressIp}`,
    ].filter(Boolean);
    checks.push(
      problems.length === 0
        ? { name: 'helo_name', ok: true, detail: `${opts.heloName} resolves to ${egressIp} and matches its PTR record` }
        : {
            name: 'helo_name',
            ok: false,
            detail: `HELO name ${opts.heloName} ${problems.join(' and ')}`,
            fix: `Make ${opts.heloName} an A record for ${egressIp} and the PTR record of ${egressIp} point back to ${opts.heloName} (forward-confirmed reverse DNS), or change OPENROW_SMTP_HELO_NAME to the name that does.`,
          },
    );
  }
  return { ok: checks.every((c) => c.ok !== false), egressIp, checks };
}
