// SMTP replies: assembling multi-line replies (RFC 5321 §4.2.1) and reading what a reply says about a
// mailbox. The enhanced status code (RFC 3463) is trusted first, the basic code next, the text last,
// because texts differ between servers while codes are standard.

export interface SmtpReply {
  code: number;
  /** e.g. '5.1.1', when the server sent one (RFC 2034) */
  enhanced?: string;
  /** the text lines joined with a space, enhanced codes stripped */
  text: string;
  lines: string[];
  /** the lines carried different codes (a server bug): the connection treats it as a protocol error */
  inconsistent?: boolean;
}

const REPLY_LINE = /^(\d{3})([ -])?(.*)$/;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;
// qmail and its descendants put the enhanced code at the end of the text: "… rcpthosts (#5.7.1)"
const ENHANCED_TRAILING = /\(#([245])\.(\d{1,3})\.(\d{1,3})\)\s*$/;

/** Beyond these a reply is refused: a hostile server could otherwise stream continuation lines for ever. */
export const MAX_REPLY_LINES = 200;
export const MAX_REPLY_CHARS = 64 * 1024;

/**
 * Incremental reply reader: feed it the lines a server sends and it returns whole replies.
 * A line that is not a reply line is kept as text of the current reply rather than dropped, so a
 * sloppy server's answer is still shown to users.
 */
export class ReplyAssembler {
  private pending: string[] = [];
  private pendingChars = 0;
  private firstCode: string | undefined;
  private mixedCodes = false;

  /** returns a reply when `line` completes one; throws ReplyTooLong past the limits above */
  push(line: string): SmtpReply | undefined {
    this.pendingChars += line.length;
    if (this.pending.length >= MAX_REPLY_LINES || this.pendingChars > MAX_REPLY_CHARS) {
      throw new ReplyTooLong(`a reply of more than ${MAX_REPLY_LINES} lines or ${MAX_REPLY_CHARS} characters`);
    }
    this.pending.push(line);
    const m = REPLY_LINE.exec(line);
    if (!m) return undefined;
    if (this.firstCode === undefined) this.firstCode = m[1];
    else if (m[1] !== this.firstCode) this.mixedCodes = true;
    if (m[2] === '-') return undefined;
    const lines = this.pending;
    const mixed = this.mixedCodes;
    this.pending = [];
    this.pendingChars = 0;
    this.firstCode = undefined;
    this.mixedCodes = false;
    const reply = buildReply(Number(m[1]), lines);
    // RFC 5321 4.2.1: every line of a reply carries the same code; a server that mixes them has said
    // nothing we can rely on (a "550-5.1.1 unknown" followed by "250 ok" is neither answer)
    if (mixed) reply.inconsistent = true;
    return reply;
  }
}

export class ReplyTooLong extends Error {}

function buildReply(code: number, lines: string[]): SmtpReply {
  let enhanced: string | undefined;
  const texts = lines.map((l) => {
    let t = REPLY_LINE.test(l) ? l.slice(4) : l;
    const e = ENHANCED.exec(t);
    if (e) {
      enhanced ??= `${e[1]}.${Number(e[2])}.${Number(e[3])}`;
      t = t.slice(e[0].length).trimStart();
    }
    return t;
  });
  if (!enhanced) {
    const e = ENHANCED_TRAILING.exec(texts[texts.length - 1] ?? '');
    if (e) enhanced = `${e[1]}.${Number(e[2])}.${Number(e[3])}`;
  }
  // An enhanced code whose class disagrees with the basic code is a server bug: ignore it.
  if (enhanced && enhanced[0] !== String(code)[0]) enhanced = undefined;
  return { code, enhanced, text: texts.join(' ').trim(), lines };
}

/** Parse a whole reply given as text (tests, logs). */
export function parseReply(raw: string): SmtpReply {
  const asm = new ReplyAssembler();
  let reply: SmtpReply | undefined;
  for (const line of raw.split(/\r?\n/)) {
    if (line === '') continue;
    reply = asm.push(line) ?? reply;
  }
  if (!reply) throw new Error(`not a complete SMTP reply: ${JSON.stringify(raw)}`);
  return reply;
}

/** What a RCPT TO reply says about the mailbox. */
export type RcptVerdict =
  | 'accepted'
  | 'no_such_user'
  | 'disabled'
  | 'mailbox_full'
  | 'policy'
  | 'too_many_recipients'
  | 'temporary'
  | 'service_closing'
  | 'unknown';

export interface RcptClassification {
  verdict: RcptVerdict;
  /** the reply looks like greylisting (a temporary refusal meant to be retried) */
  greylisted: boolean;
  /** human reason, shown in details.reason */
  reason: string;
  /** a wait the server asked for, when its text names one */
  retryAfterMs?: number;
  /**
   * For no_such_user: the reply says so in so many words (a 5.1.x code, or text naming the mailbox as
   * unknown) rather than being a bare 550/553, which RFC 5321 also allows for policy refusals. Only an
   * explicit answer to the random probe address proves a domain is not catch-all.
   */
  explicit?: boolean;
}

const TEXT_NO_SUCH_USER =
  /(no such (user|mailbox|recipient)|user (unknown|not found|doesn'?t exist)|unknown (user|recipient|mailbox)|recipient (unknown|not found|rejected|does not exist)|mailbox (not found|does not exist|unknown)|address (rejected|not found|does not exist|unknown)|does not exist|invalid (mailbox|recipient|address)|not a valid mailbox|undeliverable address|(doesn'?t|does not) have an? [\w.-]+ account)/i;
const TEXT_DISABLED = /(disabled|deactivated|inactive|suspended|account (is )?(closed|locked|blocked))/i;
const TEXT_FULL = /(mailbox (is )?full|over ?quota|quota exceeded|insufficient (system )?storage|out of storage)/i;
// Refusals of us, not of the mailbox. A bare 550 naming any of these (Exim's "Administrative
// prohibition", rate and connection limits, SPF/DMARC failures, qmail's rcpthosts) is not "no such user".
const TEXT_POLICY =
  /(spamhaus|blocked|block ?list|black ?list|blacklisted|\bdnsbl\b|\brbl\b|spam|reputation|policy|denied|not permitted|access denied|relay(ing)? (denied|not permitted)|prohibit|not allowed to (send|relay|connect|use)|not accepted|unauthori[sz]ed|forbidden|rate ?limit|too many|connections?\b|\bspf\b|\bdmarc\b|\bdkim\b|protocol error|service (is )?(temporarily )?unavailable|rcpthosts|authenticat|banned)/i;
const TEXT_GREYLIST = /(grey|gray) ?list|try (again )?later|temporar/i;
const TEXT_TOO_MANY = /too many (recipients|rcpt)/i;
/**
 * Refusals of our sender or of our connection (Postfix checks the sender at RCPT time by default:
 * smtpd_delay_reject), whatever words about addresses they also contain.
 */
const TEXT_SENDER_OR_CLIENT = /(sender address|\bsender\b[^.;]*\b(rejected|refused|denied|not allowed|verification|verify)|your ip|client host|reverse dns|\bptr\b|\bhelo\b)/i;

/**
 * Classify the reply to RCPT TO. A policy refusal (5.7.x, a block list, a reputation block) tells
 * nothing about the mailbox and is never turned into "no such user".
 */
export function classifyRcptReply(reply: SmtpReply): RcptClassification {
  const { code, enhanced, text } = reply;
  const retryAfterMs = retryDelayFromText(text);
  const withText = (r: string) => (text ? `${r}: ${code}${enhanced ? ' ' + enhanced : ''} ${text}` : `${r}: ${code}`);

  if (code >= 200 && code < 300) return { verdict: 'accepted', greylisted: false, reason: withText('mailbox accepted') };
  if (code === 421) {
    return { verdict: 'service_closing', greylisted: false, reason: withText('server is closing the session'), retryAfterMs };
  }

  const [cls, subject, detail] = enhanced ? (enhanced.split('.').map(Number) as [number, number, number]) : [0, 0, 0];
  // a 5.1.x about the recipient is the server's own word on the mailbox, whatever the text adds
  // ("User unknown (your IP 192.0.2.1 logged)")
  const recipientCode = subject === 1 && [1, 2, 3, 6, 10].includes(detail);
  // x.1.7 / x.1.8: our MAIL FROM (its address or its domain) is refused, answered at RCPT
  if ((subject === 1 && (detail === 7 || detail === 8)) || (!recipientCode && TEXT_SENDER_OR_CLIENT.test(text))) {
    if (code >= 400 && code < 500) return { verdict: 'temporary', greylisted: false, reason: withText('our sender or connection is temporarily refused'), retryAfterMs };
    return { verdict: 'policy', greylisted: false, reason: withText('refused by the server\'s policy toward our sender or connection, which says nothing about the mailbox') };
  }
  // RFC 5321 4.5.3.1.10: a 552 for too many recipients is to be treated as 452
  if ((subject === 5 && detail === 3) || TEXT_TOO_MANY.test(text)) {
    return { verdict: 'too_many_recipients', greylisted: false, reason: withText('too many recipients in this session') };
  }

  if (enhanced) {
    if (subject === 7) {
      // 4.7.x is how most greylisting implementations answer; 5.7.x is a policy block.
      if (cls === 4) {
        return { verdict: 'temporary', greylisted: true, reason: withText('temporarily refused (greylisting)'), retryAfterMs };
      }
      return { verdict: 'policy', greylisted: false, reason: withText('refused by the server\'s policy, which says nothing about the mailbox') };
    }
    if (subject === 2 && detail === 2) {
      return cls === 5
        ? { verdict: 'mailbox_full', greylisted: false, reason: withText('mailbox full') }
        : { verdict: 'temporary', greylisted: false, reason: withText('mailbox temporarily full'), retryAfterMs };
    }
    if (cls === 4) {
      return { verdict: 'temporary', greylisted: TEXT_GREYLIST.test(text), reason: withText('temporary failure'), retryAfterMs };
    }
    if (recipientCode) {
      return { verdict: 'no_such_user', greylisted: false, reason: withText('no such mailbox'), explicit: true };
    }
    if (subject === 2 && detail === 1) {
      return { verdict: 'disabled', greylisted: false, reason: withText('mailbox disabled') };
    }
    // 5.1.0 and the other permanent codes: fall through to the text, which is more specific.
  }

  if (code >= 400 && code < 500) {
    return { verdict: 'temporary', greylisted: code === 450 || code === 451 || TEXT_GREYLIST.test(text), reason: withText('temporary failure'), retryAfterMs };
  }
  if (code >= 500) {
    const noSuchUser = TEXT_NO_SUCH_USER.test(text);
    if (TEXT_POLICY.test(text) && !noSuchUser) {
      return { verdict: 'policy', greylisted: false, reason: withText('refused by the server\'s policy, which says nothing about the mailbox') };
    }
    // a permanent code with the words of a temporary refusal ("550 Greylisted, try again later"); a
    // disabled mailbox ("temporarily disabled") is the mailbox's own answer, below
    if (TEXT_GREYLIST.test(text) && !noSuchUser && !TEXT_DISABLED.test(text)) {
      return { verdict: 'temporary', greylisted: true, reason: withText('refused for now (greylisting, despite the permanent code)'), retryAfterMs };
    }
    if (TEXT_FULL.test(text) || (code === 552 && !enhanced)) return { verdict: 'mailbox_full', greylisted: false, reason: withText('mailbox full') };
    if (TEXT_DISABLED.test(text)) return { verdict: 'disabled', greylisted: false, reason: withText('mailbox disabled') };
    if (noSuchUser) return { verdict: 'no_such_user', greylisted: false, reason: withText('no such mailbox'), explicit: true };
    // RFC 5321 defines 550/551/553 as "mailbox unavailable / not local / name not allowed"; the same
    // codes also carry refusals for policy reasons, so this is taken for the mailbox's answer but
    // never as proof that a domain rejects unknown addresses (see explicit)
    if (code === 550 || code === 551 || code === 553) {
      return { verdict: 'no_such_user', greylisted: false, reason: withText('mailbox unavailable'), explicit: false };
    }
  }
  return { verdict: 'unknown', greylisted: false, reason: withText('reply does not say whether the mailbox exists') };
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** "try again in 120 seconds", "retry after 5 minutes", "wait 300s" → milliseconds. */
export function retryDelayFromText(text: string): number | undefined {
  const m = /\b(?:in|after|wait(?:ing)?|for)\s+(\d{1,6})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b/i.exec(text);
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase()[0]!;
  return Number(m[1]) * UNIT_MS[unit]!;
}
