// Pool of open SMTP sessions per mail server address, shared by every verify() call of the process.
// It is the politeness and the speed of the verifier at once: at most `perHost` connections to one
// server (and new ones paced), and an idle session already greeted is reused instead of a new one.
import type { ConnectTarget } from './smtp-connection.js';
import { SmtpFailure } from './smtp-connection.js';
import { SessionRefused, SmtpSession } from './smtp-session.js';

export interface PoolOptions {
  perHostConcurrency: number;
  perHostMinIntervalMs: number;
  idleTimeoutMs: number;
  openSession: (target: ConnectTarget) => Promise<SmtpSession>;
}

interface HostState {
  /** sessions open or being opened, busy or idle */
  open: number;
  /** lowered below perHostConcurrency when the server says it is busy (421 greeting) */
  limit: number;
  idle: SmtpSession[];
  idleTimers: Map<SmtpSession, NodeJS.Timeout>;
  waiters: Array<() => void>;
  nextConnectAt: number;
}

export class SessionPool {
  private hosts = new Map<string, HostState>();
  private closed = false;

  constructor(private readonly opts: PoolOptions) {}

  private state(key: string): HostState {
    let st = this.hosts.get(key);
    if (!st) {
      st = {
        open: 0,
        limit: this.opts.perHostConcurrency,
        idle: [],
        idleTimers: new Map(),
        waiters: [],
        nextConnectAt: 0,
      };
      this.hosts.set(key, st);
    }
    return st;
  }

  private static key(t: ConnectTarget) {
    return `${t.ip}|${t.port}`;
  }

  /**
   * A session to `target`: an idle one when there is, a new one under the cap, else wait for one.
   * `fresh` skips idle sessions (after 452 too many recipients, a new connection is wanted).
   */
  async acquire(target: ConnectTarget, signal?: AbortSignal, fresh = false): Promise<SmtpSession> {
    const st = this.state(SessionPool.key(target));
    let retiring = false;
    for (;;) {
      if (this.closed) throw new SmtpFailure('closed', 'verifier is closing');
      signal?.throwIfAborted();
      while (!fresh && st.idle.length > 0) {
        const s = st.idle.pop()!;
        clearTimeout(st.idleTimers.get(s));
        st.idleTimers.delete(s);
        if (s.alive) return s;
        st.open--;
      }
      this.dropDeadIdle(st);
      if (st.open < st.limit) {
        st.open++;
        try {
          await this.pace(st);
          return await this.opts.openSession(target);
        } catch (err) {
          st.open--;
          this.wakeOne(st);
          // A busy server (421 greeting) while we hold other sessions to it: its real limit is what
          // we hold; wait for one of ours instead of failing this address.
          if (err instanceof SessionRefused && err.reply.code === 421 && st.open > 0 && !this.closed) {
            st.limit = Math.max(1, st.open);
            fresh = false;
            continue;
          }
          throw err;
        }
      }
      if (fresh && st.idle.length > 0 && !retiring) {
        // no room for a fresh one: retire an idle session to make room (one: its slot is free once the
        // server has answered its QUIT, and we wait for that below rather than retire every idle one)
        const s = st.idle.shift()!;
        retiring = true;
        this.retireIdle(st, s);
        continue;
      }
      await this.waitTurn(st, signal);
    }
  }

  // A caller that gives up while waiting (its engine call abandoned, the worker stopping) leaves the line:
  // woken later, it would only throw, and the wake-up meant for the caller behind it would be lost.
  private waitTurn(st: HostState, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const onAbort = () => {
        const i = st.waiters.indexOf(wake);
        if (i >= 0) st.waiters.splice(i, 1);
        resolve();
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      st.waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Give a session back: kept for reuse when `reusable`, closed otherwise. */
  release(session: SmtpSession, reusable: boolean) {
    const st = this.state(SessionPool.key(session.target));
    if (!reusable || !session.alive || this.closed) {
      this.close1(st, session);
      return;
    }
    st.idle.push(session);
    const timer = setTimeout(() => {
      const i = st.idle.indexOf(session);
      if (i >= 0) {
        st.idle.splice(i, 1);
        this.retireIdle(st, session);
      }
    }, this.opts.idleTimeoutMs);
    timer.unref();
    st.idleTimers.set(session, timer);
    this.wakeOne(st);
  }

  private retireIdle(st: HostState, s: SmtpSession) {
    clearTimeout(st.idleTimers.get(s));
    st.idleTimers.delete(s);
    this.close1(st, s);
  }

  // The connection counts against the host's limit until its QUIT is answered (at most 2 s): the server
  // still holds it, and a new one opened meanwhile would be one more than the limit allows there.
  private close1(st: HostState, s: SmtpSession) {
    const gone = () => {
      st.open--;
      this.wakeOne(st);
    };
    if (s.alive) void s.quit().finally(gone);
    else {
      s.destroy();
      gone();
    }
  }

  private dropDeadIdle(st: HostState) {
    for (let i = st.idle.length - 1; i >= 0; i--) {
      const s = st.idle[i]!;
      if (!s.alive) {
        st.idle.splice(i, 1);
        clearTimeout(st.idleTimers.get(s));
        st.idleTimers.delete(s);
        st.open--;
      }
    }
  }

  private wakeOne(st: HostState) {
    st.waiters.shift()?.();
  }

  private async pace(st: HostState) {
    if (this.opts.perHostMinIntervalMs <= 0) return;
    const now = Date.now();
    const at = Math.max(now, st.nextConnectAt);
    st.nextConnectAt = at + this.opts.perHostMinIntervalMs;
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  }

  /** Close idle sessions now; busy ones are closed when released. Waiters fail. */
  async close(): Promise<void> {
    this.closed = true;
    const quits: Promise<void>[] = [];
    for (const st of this.hosts.values()) {
      for (const s of st.idle) {
        clearTimeout(st.idleTimers.get(s));
        st.open--;
        quits.push(s.quit());
      }
      st.idle = [];
      st.idleTimers.clear();
      for (const w of st.waiters.splice(0)) w();
    }
    await Promise.all(quits);
  }
}
