/**
 * An acknowledged write survives a failover: before Herald answers a write
 * with 2xx, the replicas of the masters it wrote to have it too (`WAIT`).
 *
 * Redis replicates asynchronously; a master that dies a moment after it
 * answered takes its last writes with it, and the replica promoted in its
 * place never had them. `WAIT n timeout` blocks until `n` replicas
 * acknowledge everything the connection wrote so far. Herald waits for
 * `HERALD_REDIS_WAIT_REPLICAS` replicas — by default all of them: the
 * Sentinels may promote any, and a write that only some had is lost when
 * another is promoted (the others resynchronise from it) — never for more
 * than the master has had connected in the last half minute (read with
 * `ROLE`, at most once a second): a master that has no replicas answers at
 * once; one whose replicas just left — a master being failed over, whose
 * replicas follow the new one — refuses to acknowledge (503, and the caller
 * retries on the new master); one whose replica stays away longer stops
 * waiting for it instead of refusing every write.
 *
 * WAIT covers all of a connection's writes, whoever made them: requests
 * that finish while a WAIT is in flight share the next one (at most one in
 * flight and one waiting per master), so its cost is about one replica
 * round trip per burst, not one per request.
 */
import { Cluster, type Redis } from 'ioredis';
import type { ReplicaWait } from '../config.js';
import type { RedisClient } from './connection.js';

/** How long a master's count of connected replicas is trusted. */
const ROLE_TTL_MS = 1_000;
/** How long replicas that left are still waited for. */
const REPLICAS_REMEMBERED_MS = 30_000;

/**
 * Fewer replicas than asked acknowledged a write in time. The message starts
 * with NOREPLICAS, Redis's own word for "not safe to acknowledge", so that it
 * is answered as Redis being unavailable (503, Retry-After).
 */
export class NotReplicatedError extends Error {
  constructor(acknowledged: number, wanted: number, timeoutMs: number) {
    super(`NOREPLICAS ${acknowledged} of ${wanted} replicas acknowledged the write within ${timeoutMs} ms`);
    this.name = 'NotReplicatedError';
  }
}

interface MasterState {
  replicas?: { count: number; readAt: number };
  /** The most replicas seen connected lately, and when that many were last seen. */
  mostReplicas?: { count: number; seenAt: number };
  inFlight?: Promise<void>;
  next?: Promise<void>;
}

export class ReplicaWaiter {
  readonly #masters = new WeakMap<Redis, MasterState>();

  constructor(
    private readonly redis: RedisClient,
    private readonly wait: ReplicaWait,
  ) {}

  /**
   * Resolves once the writes made so far through this connection are on
   * enough replicas of every master; rejects with {@link NotReplicatedError}
   * when they are not within the timeout.
   */
  async confirm(): Promise<void> {
    if (this.wait.replicas === 0) return;
    const masters = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    await Promise.all(masters.map((master) => this.confirmOn(master)));
  }

  /** A WAIT issued after this call, on `master`: the one waiting to go, or a new one. */
  private confirmOn(master: Redis): Promise<void> {
    let state = this.#masters.get(master);
    if (state === undefined) this.#masters.set(master, (state = {}));
    const current = state;
    if (current.next !== undefined) return current.next;
    if (current.inFlight === undefined) return this.issue(master, current);
    // The one in flight was sent before this write: the next one covers it.
    current.next = current.inFlight
      .catch(() => undefined)
      .then(() => {
        current.next = undefined;
        return this.issue(master, current);
      });
    return current.next;
  }

  private issue(master: Redis, state: MasterState): Promise<void> {
    const waiting = this.waitOn(master, state).finally(() => {
      if (state.inFlight === waiting) state.inFlight = undefined;
    });
    state.inFlight = waiting;
    return waiting;
  }

  private async waitOn(master: Redis, state: MasterState): Promise<void> {
    const lately = await this.connectedReplicas(master, state);
    const wanted = this.wait.replicas === 'all' ? lately : Math.min(this.wait.replicas, lately);
    if (wanted === 0) return;
    const acknowledged = await master.wait(wanted, this.wait.timeoutMs);
    if (acknowledged < wanted) {
      // Read the replicas again next time: one may have gone for good.
      state.replicas = undefined;
      throw new NotReplicatedError(acknowledged, wanted, this.wait.timeoutMs);
    }
  }

  /** How many replicas to wait for: the most `master` had connected in the last {@link REPLICAS_REMEMBERED_MS}. */
  private async connectedReplicas(master: Redis, state: MasterState): Promise<number> {
    const now = Date.now();
    if (state.replicas === undefined || now - state.replicas.readAt >= ROLE_TTL_MS) {
      const role = (await master.role()) as [string, number, unknown[]?];
      const count = role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 0;
      state.replicas = { count, readAt: now };
      const most = state.mostReplicas;
      if (most === undefined || count >= most.count || now - most.seenAt > REPLICAS_REMEMBERED_MS) state.mostReplicas = { count, seenAt: now };
    }
    return state.mostReplicas!.count;
  }
}
