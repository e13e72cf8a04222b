import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyRcptReply, parseReply, ReplyAssembler, retryDelayFromText } from '../../src/engines/verifier/smtp-reply.js';
import { decideRetry } from '../../src/engines/verifier/retry-policy.js';

test('assembles multi-line replies and extracts the enhanced code', () => {
  const asm = new ReplyAssembler();
  assert.equal(asm.push('250-mx.example.test Hello'), undefined);
  assert.equal(asm.push('250-STARTTLS'), undefined);
  const r = asm.push('250 SIZE 1000');
  assert.ok(r);
  assert.equal(r.code, 250);
  assert.equal(r.lines.length, 3);

  const multi = parseReply('550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please check the address.\r\n');
  assert.equal(multi.code, 550);
  assert.equal(multi.enhanced, '5.1.1');
  assert.equal(multi.text, 'The email account that you tried to reach does not exist. Please check the address.');

  assert.equal(parseReply('250 OK').enhanced, undefined);
  assert.equal(parseReply('220').code, 220);
  // enhanced class disagreeing with the basic code is ignored
  assert.equal(parseReply('550 2.1.5 odd').enhanced, undefined);
  assert.equal(parseReply('451 4.07.001 zero padded').enhanced, '4.7.1');
});

const verdictOf = (raw: string) => classifyRcptReply(parseReply(raw)).verdict;

test('classifies by enhanced status code first', () => {
  assert.equal(verdictOf('250 2.1.5 Recipient OK'), 'accepted');
  assert.equal(verdictOf('550 5.1.1 <x@y> User unknown'), 'no_such_user');
  assert.equal(verdictOf('550 5.1.10 RESOLVER.ADR.RecipientNotFound'), 'no_such_user');
  assert.equal(verdictOf('550 5.2.1 The email account that you tried to reach is disabled'), 'disabled');
  assert.equal(verdictOf('552 5.2.2 Mailbox full'), 'mailbox_full');
  assert.equal(verdictOf('452 4.2.2 Mailbox full, try later'), 'temporary');
  assert.equal(verdictOf('452 4.5.3 Too many recipients'), 'too_many_recipients');
  assert.equal(verdictOf('421 4.3.2 Service shutting down'), 'service_closing');
  // a policy block mentions the user, yet says nothing about the mailbox
  assert.equal(verdictOf('554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using Spamhaus; user unknown'), 'policy');
  assert.equal(verdictOf('550 5.7.1 Recipient address rejected: Access denied'), 'policy');
  const grey = classifyRcptReply(parseReply('451 4.7.1 Greylisted, please try again in 120 seconds'));
  assert.equal(grey.verdict, 'temporary');
  assert.equal(grey.greylisted, true);
  assert.equal(grey.retryAfterMs, 120_000);
});

test('falls back to basic code and text when there is no enhanced code', () => {
  assert.equal(verdictOf('550 No such user here'), 'no_such_user');
  assert.equal(verdictOf('550 Requested action not taken: mailbox unavailable'), 'no_such_user');
  assert.equal(verdictOf('554 Your IP is listed on a block list'), 'policy');
  assert.equal(verdictOf('552 Requested mail action aborted: exceeded storage allocation'), 'mailbox_full');
  assert.equal(verdictOf('550 Account disabled'), 'disabled');
  assert.equal(verdictOf('450 Greylisted'), 'temporary');
  assert.equal(classifyRcptReply(parseReply('450 Greylisted')).greylisted, true);
  assert.equal(verdictOf('452 Too many recipients'), 'too_many_recipients');
  assert.equal(verdictOf('554 Transaction failed'), 'unknown');
  assert.equal(verdictOf('503 Bad sequence of commands'), 'unknown');
});

test('a refusal of our sender or connection answered at RCPT says nothing about the mailbox', () => {
  // Postfix checks MAIL FROM at RCPT time by default (smtpd_delay_reject): these once read as "no such user"
  assert.equal(verdictOf('550 5.1.8 <probe@probe.test>: Sender address rejected: Domain not found'), 'policy');
  assert.equal(verdictOf('550 5.1.7 <probe@probe.test>: Sender address rejected: undeliverable address'), 'policy');
  assert.equal(verdictOf('504 5.5.2 <probe>: Sender address rejected: need fully-qualified address'), 'policy');
  assert.equal(verdictOf('550 Sender address rejected: not owned by user'), 'policy');
  assert.equal(verdictOf('550 Reverse DNS lookup for your IP does not exist'), 'policy');
  assert.equal(verdictOf('450 4.1.8 <probe@probe.test>: Sender address rejected: Domain not found'), 'temporary');
  // a refusal of the recipient is still one
  assert.equal(verdictOf('550 5.1.1 <pam@x.test>: Recipient address rejected: User unknown in local recipient table'), 'no_such_user');
  assert.equal(verdictOf('550 Recipient address rejected: User unknown'), 'no_such_user');
});

test('552 too many recipients is 452 (RFC 5321 4.5.3.1.10), not a full mailbox', () => {
  assert.equal(verdictOf('552 Too many recipients'), 'too_many_recipients');
  assert.equal(verdictOf('552 5.5.3 Too many recipients'), 'too_many_recipients');
  assert.equal(verdictOf('552 Requested mail action aborted: exceeded storage allocation'), 'mailbox_full');
});

test('reads the wait a server asks for', () => {
  assert.equal(retryDelayFromText('try again in 120 seconds'), 120_000);
  assert.equal(retryDelayFromText('Please retry after 5 minutes'), 300_000);
  assert.equal(retryDelayFromText('wait 30s'), 30_000);
  assert.equal(retryDelayFromText('Greylisted'), undefined);
});

test('retry policy: server delay wins, backoff by attempt, final after the window', () => {
  const policy = { backoffMs: [60_000, 300_000, 900_000], windowMs: 30 * 60_000 };
  const t0 = 1_000_000;
  assert.deepEqual(decideRetry(policy, 1, t0, undefined, t0), { retry: true, delayMs: 60_000 });
  assert.deepEqual(decideRetry(policy, 2, t0, undefined, t0 + 60_000), { retry: true, delayMs: 300_000 });
  assert.deepEqual(decideRetry(policy, 9, t0, undefined, t0 + 60_000), { retry: true, delayMs: 900_000 });
  assert.deepEqual(decideRetry(policy, 1, t0, 120_000, t0), { retry: true, delayMs: 120_000 });
  // never past the window's end, so one last attempt happens right at it
  assert.deepEqual(decideRetry(policy, 3, t0, undefined, t0 + 29 * 60_000), { retry: true, delayMs: 60_000 });
  assert.deepEqual(decideRetry(policy, 4, t0, undefined, t0 + 30 * 60_000), { retry: false });
});

test('refusals of us are policy, RFC 5321\'s own texts and disabled mailboxes keep their meaning', () => {
  const v = (raw: string) => classifyRcptReply(parseReply(raw));
  assert.equal(v('550 Administrative prohibition').verdict, 'policy');
  assert.equal(v('550 You are not allowed to send mail').verdict, 'policy');
  assert.equal(v("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)").verdict, 'policy');
  // RFC 5321's text for 553 names no refusal of us
  assert.equal(v('553 Requested action not taken: mailbox name not allowed').verdict, 'no_such_user');
  assert.equal(v('553 Requested action not taken: mailbox name not allowed').explicit, false);
  assert.equal(v('550 Mailbox temporarily disabled').verdict, 'disabled');
  assert.equal(v('550 Greylisted, please try again later').verdict, 'temporary');
  assert.equal(v('550 sorry, no mailbox here by that name. (#5.1.1)').explicit, true);
  assert.equal(v("554 delivery error: dd This user doesn't have a yahoo.com account").verdict, 'no_such_user');
});
