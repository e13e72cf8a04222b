// The shape of a sandbox world file (YAML or JSON). examples/world.yaml documents every field with
// comments; world-load.ts validates a parsed file against these types with errors that name the field.

/** Delay in milliseconds before the server answers a step. */
export interface DelaysMs {
  banner?: number;
  ehlo?: number;
  helo?: number;
  starttls?: number;
  mail?: number;
  rcpt?: number;
  rset?: number;
  noop?: number;
  vrfy?: number;
  quit?: number;
  data?: number;
}

export const DELAY_STEPS = ['banner', 'ehlo', 'helo', 'starttls', 'mail', 'rcpt', 'rset', 'noop', 'vrfy', 'quit', 'data'] as const;
export type DelayStep = (typeof DELAY_STEPS)[number];

/**
 * Mail-server behaviours, settable on a domain or on an MX host.
 * Session-level ones (tarpit, max_connections, starttls, multiline banner, every delay but `rcpt`) are known
 * before any recipient: set on a domain, they apply to the hosts that serve it. Recipient-level ones
 * (catch_all, greylist_seconds, policy_block, max_rcpts_per_session, drop_after_rcpt, delays_ms.rcpt,
 * multiline RCPT replies) use the recipient domain's value when it sets one, else the host's.
 */
export interface Behaviour {
  /** accept every local part */
  catch_all?: boolean;
  /** `451 4.7.1` for a sender/recipient pair until this many seconds after its first attempt (fractions allowed) */
  greylist_seconds?: number;
  /** `554 5.7.1 … blocked using Spamhaus` to every RCPT; a string replaces the reply text */
  policy_block?: boolean | string;
  /** this reply (`"421 4.7.0 … try again in 300 seconds"`) to every RCPT; a 421 also closes the session */
  rcpt_reply?: string;
  /** `452 4.5.3 Too many recipients` once this many RCPTs were answered in one session */
  max_rcpts_per_session?: number;
  delays_ms?: DelaysMs;
  /** accept the connection and never answer */
  tarpit?: boolean;
  /** close the connection instead of answering RCPT */
  drop_after_rcpt?: boolean;
  /** a connection beyond this many simultaneous ones gets `421` and is closed */
  max_connections?: number;
  /** offer STARTTLS (self-signed certificate) */
  starttls?: boolean;
  /** multi-line banner and replies (EHLO is always multi-line) */
  multiline?: boolean;
}

export interface MxRecord {
  host: string;
  preference: number;
}

export interface DomainSpec extends Behaviour {
  /**
   * absent: one MX `mx.<domain>` preference 10;
   * a list: these MX records;
   * `null`: no MX record, the domain itself is its mail host (its A record points at a sandbox address);
   * `'null'`: RFC 7505 null MX (`0 .`), the domain accepts no mail.
   */
  mx?: MxRecord[] | null | 'null';
  /** with `mx: null` only: false gives the domain no A record of its own (no mail host at all) */
  mail_host?: boolean;
  /** extra A / AAAA records of the domain (IP literals), TXT records */
  a?: string[];
  aaaa?: string[];
  txt?: string[];
  /** local parts that exist (people's emails at this domain are added automatically) */
  mailboxes?: string[];
  /** role local parts (admin, info…): they exist like mailboxes; listed apart for documentation */
  roles?: string[];
  /** local parts answered `552 5.2.2` mailbox full */
  full?: string[];
  /** local parts answered `550 5.2.1` account disabled */
  disabled?: string[];
  /** flags for the verifier's lists; the mail server behaves like any other */
  disposable?: boolean;
  free_provider?: boolean;
  description?: string;
}

export interface HostSpec extends Behaviour {
  /** nothing listens on this host's address: connections are refused */
  refuse?: boolean;
  /** fixed IPv4 loopback address instead of the next one from the sandbox's base */
  address?: string;
  description?: string;
}

export interface WorldPerson {
  fullname: string;
  domain: string;
  /** the address the finder must find; null when the finder must answer not found */
  email?: string | null;
  /** E.164 */
  phone?: string | null;
  linkedin_url?: string | null;
  /** the email pattern at this domain (first.last, flast, …), for documentation and tests */
  pattern?: string;
  note?: string;
}

export interface World {
  domains: Record<string, DomainSpec>;
  hosts?: Record<string, HostSpec>;
  people?: WorldPerson[];
}

/** Per MX host, since the sandbox started or the last reset. */
export interface HostCounters {
  address: string;
  /** TCP connections accepted (those refused with 421 included) */
  connections: number;
  currentConnections: number;
  /** high-water mark of simultaneous connections */
  maxConcurrentConnections: number;
  /** connections answered 421 because of max_connections */
  rejectedConnections: number;
  /** RCPT commands received */
  rcpts: number;
  rcptsByDomain: Record<string, number>;
  /** replies sent, by code ('250', '550', …), the banner included */
  replies: Record<string, number>;
  /** commands received, by upper-case verb */
  commands: Record<string, number>;
  /** DATA commands (a verifier must never send one) */
  dataAttempts: number;
  tlsUpgrades: number;
}
