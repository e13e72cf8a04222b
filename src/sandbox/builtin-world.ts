// The built-in world of test mode. Its text is examples/world.yaml byte for byte (a test checks it), so
// the documented example and what test keys run against can never drift apart.
import { parse as parseYaml } from 'yaml';
import { validateWorld } from './world-load.js';
import type { World } from './world-types.js';

export const BUILTIN_WORLD_YAML = `# Openrow sandbox world: the built-in world of test mode (test API keys), also a documented example.
# "openrow sandbox --world FILE" serves a world like this one: a real DNS server (UDP and TCP) that
# answers MX, A, AAAA and TXT for these names (NXDOMAIN for anything else), and one real SMTP server per
# MX host, each on its own loopback address (127.0.0.2, 127.0.0.3, ... in order of appearance) and one
# shared port. JSON with the same shape works too. Names are lower-case; every field is checked at load
# and a bad one is reported with its path (e.g. domains["full.test"].greylist_seconds).
#
# domains.<name>:
#   mx:            absent -> one MX "mx.<name>" preference 10
#                  [{host, preference}, ...] -> these MX records (hosts may be shared by several domains:
#                  the SMTP server tells domains apart by the RCPT domain and denies relay for others)
#                  null -> no MX record: the domain is its own mail host (its A record points at a sandbox
#                  address where an SMTP server listens, RFC 5321 section 5.1)
#                  'null' (quoted) -> RFC 7505 null MX "0 ." : the domain accepts no mail
#   mail_host:     with mx: null only; false -> no A record of its own, so no mail host at all
#   a, aaaa, txt:  extra records of the domain (IP literals / strings)
#   mailboxes:     local parts that exist (250); anything else gets 550 5.1.1 unless catch_all.
#                  The emails of "people" below are added to their domain's mailboxes automatically.
#   roles:         role local parts (admin, info, ...): they exist like mailboxes
#   full:          local parts answered 552 5.2.2 (mailbox full)
#   disabled:      local parts answered 550 5.2.1 (account disabled)
#   disposable, free_provider: flags for the verifier's lists; the mail server behaves normally
#   description:   free text
#
# Behaviours, on a domain or on a host (hosts.<mx host name>), all combinable:
#   catch_all: true                accept every local part
#   greylist_seconds: N            451 4.7.1 for a sender/recipient pair until N seconds after its first try
#   policy_block: true | "text"    554 5.7.1 ... blocked using Spamhaus, to every RCPT
#   rcpt_reply: "421 4.7.0 text"   this reply to every RCPT (a 421 also closes the session)
#   max_rcpts_per_session: K       452 4.5.3 Too many recipients once K RCPTs were answered in a session
#   delays_ms: {banner, ehlo, helo, starttls, mail, rcpt, rset, noop, vrfy, quit, data}
#                                  wait this long (ms) before answering that step
#   tarpit: true                   accept the connection, never answer
#   drop_after_rcpt: true          close the connection instead of answering RCPT
#   max_connections: N             a connection beyond N simultaneous ones gets 421 and is closed
#   starttls: true                 offer STARTTLS (self-signed certificate)
#   multiline: true                multi-line banner and replies (EHLO is always multi-line)
# Session-level behaviours (tarpit, max_connections, starttls, multiline banner, every delay but rcpt)
# happen before any recipient is known: set on a domain they apply to the hosts serving it (domains
# sharing a host must agree, or set it on the host). Recipient-level ones use the recipient domain's
# value when it sets one, else the host's.
#
# hosts.<mx host name>: the behaviours above, plus
#   refuse: true                   nothing listens on its address: connections are refused
#   address: 127.0.0.9             a fixed loopback address instead of the next free one
#
# people: the source of truth of the finder and phone tests.
#   {fullname, domain, email (null = the finder must answer not found), phone (E.164), linkedin_url,
#    pattern (email pattern at that domain), note}
#
# Every SMTP host answers EHLO/HELO, STARTTLS (when offered), MAIL FROM, RCPT TO, RSET, NOOP, QUIT,
# VRFY (252) and DATA (always 554, and counted: a verifier must never send it).

domains:
  deliverable.test:
    description: known mailboxes are accepted, unknown ones get 550 5.1.1; offers STARTTLS
    mailboxes: [valid, pam.beesly, dwight.schrute, michael.scott]
    roles: [admin, info, sales, support, postmaster]
    starttls: true
    a: [127.0.0.1]
    aaaa: ['::1']
    txt: ['v=spf1 -all', 'openrow-sandbox=deliverable']

  undeliverable.test:
    description: no mailbox exists, every address gets 550 5.1.1

  catchall.test:
    description: accepts every address (catch-all)
    catch_all: true
    mailboxes: [valid]

  greylist.test:
    description: 451 4.7.1 for the first attempt of a sender/recipient pair, accepted 2 seconds later
    greylist_seconds: 2
    mailboxes: [valid]

  full.test:
    description: valid@ is over quota (552 5.2.2); other addresses do not exist
    full: [valid]

  disabled.test:
    description: valid@ is a disabled account (550 5.2.1); other addresses do not exist
    disabled: [valid]

  blocked.test:
    description: the mail server blocks our IP (554 5.7.1 ... Spamhaus), which says nothing of the mailbox
    policy_block: true
    mailboxes: [valid]

  nomx.test:
    description: no MX record; the domain's A record is its mail host (RFC 5321 implicit MX)
    mx: null
    mailboxes: [valid]

  nullmx.test:
    description: RFC 7505 null MX, the domain accepts no mail
    mx: 'null'

  nomailhost.test:
    description: the domain exists but has neither MX nor A record
    mx: null
    mail_host: false
    txt: ['v=spf1 -all']

  backupmx.test:
    description: the first MX refuses connections, the second one works
    mx:
      - {host: mx1.backupmx.test, preference: 10}
      - {host: mx2.backupmx.test, preference: 20}
    mailboxes: [valid]

  slow.test:
    description: slow banner (1.5 s) and slow RCPT replies (0.8 s), within a patient client's timeouts
    delays_ms: {banner: 1500, rcpt: 800}
    mailboxes: [valid]

  tarpit.test:
    description: accepts the connection and never answers
    tarpit: true
    mailboxes: [valid]

  dropped.test:
    description: closes the connection instead of answering RCPT
    drop_after_rcpt: true
    mailboxes: [valid]

  toomany.test:
    description: like Microsoft 365, 452 4.5.3 Too many recipients after 1 RCPT in a session
    max_rcpts_per_session: 1
    mailboxes: [valid]

  busy.test:
    description: at most 2 simultaneous connections, more get 421
    max_connections: 2
    mailboxes: [valid]

  multiline.test:
    description: multi-line banner and replies, STARTTLS offered
    multiline: true
    starttls: true
    mailboxes: [valid]

  disposable.test:
    description: a disposable-address provider (flag); the server accepts its mailboxes
    disposable: true
    mailboxes: [valid]

  freemail.test:
    description: a free email provider (flag); the server accepts its mailboxes
    free_provider: true
    mailboxes: [valid, john.doe]

  shared-a.test:
    description: shares its MX host with shared-b.test; the server tells them apart by the RCPT domain
    mx: [{host: mx.shared.test, preference: 10}]
    mailboxes: [valid]

  shared-b.test:
    description: shares its MX host with shared-a.test; valid@ does not exist here
    mx: [{host: mx.shared.test, preference: 10}]
    mailboxes: [other]

  # Finder domains: each uses one email pattern; the people below hold the mailboxes.
  acme.test:
    description: pattern first.last
    roles: [info]
  globex.test:
    description: pattern flast (first initial + last name)
  initech.test:
    description: pattern first
  umbrella.test:
    description: pattern first_last
  hooli.test:
    description: pattern f.last
  piedpiper.test:
    description: pattern firstlast; STARTTLS offered
    starttls: true

hosts:
  mx1.backupmx.test:
    refuse: true

people:
  # deliverable.test
  - {fullname: Pam Beesly, domain: deliverable.test, email: pam.beesly@deliverable.test, pattern: first.last,
     phone: '+14155552671', linkedin_url: 'https://www.linkedin.com/in/pam-beesly-sandbox'}
  - {fullname: Dwight Schrute, domain: deliverable.test, email: dwight.schrute@deliverable.test, pattern: first.last,
     linkedin_url: 'https://www.linkedin.com/in/dwight-schrute-sandbox', note: 'LinkedIn known but no phone (phone not found)'}
  # acme.test: first.last
  - {fullname: Michael Scott, domain: acme.test, email: michael.scott@acme.test, pattern: first.last,
     phone: '+15705551234', linkedin_url: 'https://www.linkedin.com/in/michael-scott-sandbox'}
  - {fullname: Jim Halpert, domain: acme.test, email: jim.halpert@acme.test, pattern: first.last}
  - {fullname: José García, domain: acme.test, email: jose.garcia@acme.test, pattern: first.last,
     phone: '+34612345678', linkedin_url: 'https://www.linkedin.com/in/jose-garcia-sandbox', note: 'diacritics are dropped'}
  - {fullname: Ludwig van Beethoven, domain: acme.test, email: ludwig.vanbeethoven@acme.test, pattern: first.last,
     note: 'surname particle kept and joined'}
  # globex.test: flast
  - {fullname: Homer Simpson, domain: globex.test, email: hsimpson@globex.test, pattern: flast,
     phone: '+12125550123', linkedin_url: 'https://www.linkedin.com/in/homer-simpson-sandbox'}
  - {fullname: Hank Scorpio, domain: globex.test, email: hscorpio@globex.test, pattern: flast}
  - {fullname: Zoë Ångström, domain: globex.test, email: zangstrom@globex.test, pattern: flast, note: 'diacritics are dropped'}
  # initech.test: first
  - {fullname: Peter Gibbons, domain: initech.test, email: peter@initech.test, pattern: first}
  - {fullname: Milton Waddams, domain: initech.test, email: milton@initech.test, pattern: first,
     phone: '+33612345678', linkedin_url: 'https://www.linkedin.com/in/milton-waddams-sandbox'}
  # umbrella.test: first_last
  - {fullname: Albert Wesker, domain: umbrella.test, email: albert_wesker@umbrella.test, pattern: first_last}
  - {fullname: Jill Valentine, domain: umbrella.test, email: jill_valentine@umbrella.test, pattern: first_last}
  # hooli.test: f.last
  - {fullname: Gavin Belson, domain: hooli.test, email: g.belson@hooli.test, pattern: f.last,
     phone: '+442079460123', linkedin_url: 'https://www.linkedin.com/in/gavin-belson-sandbox'}
  - {fullname: Dinesh Chugtai, domain: hooli.test, email: d.chugtai@hooli.test, pattern: f.last}
  # piedpiper.test: firstlast
  - {fullname: Richard Hendricks, domain: piedpiper.test, email: richardhendricks@piedpiper.test, pattern: firstlast}
  - {fullname: Jared Dunn, domain: piedpiper.test, email: jareddunn@piedpiper.test, pattern: firstlast}
  # harder domains for the finder
  - {fullname: Andy Bernard, domain: greylist.test, email: andy.bernard@greylist.test, pattern: first.last,
     note: 'the domain greylists, the finder must retry'}
  - {fullname: Oscar Martinez, domain: toomany.test, email: omartinez@toomany.test, pattern: flast,
     note: 'one RCPT per session, the finder must open a new session per candidate'}
  # nobody to find
  - {fullname: Kevin Malone, domain: catchall.test, email: null,
     note: 'catch-all domain and no evidence, the finder must answer not found'}
  - {fullname: Toby Flenderson, domain: undeliverable.test, email: null,
     linkedin_url: 'https://www.linkedin.com/in/toby-flenderson-sandbox', note: 'no mailbox and no phone'}
`;

/** A fresh copy each call: callers may mutate their world without touching anyone else's. */
export function builtinWorld(): World {
  return validateWorld(parseYaml(BUILTIN_WORLD_YAML), 'built-in world');
}
