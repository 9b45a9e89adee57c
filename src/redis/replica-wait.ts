/**
 * An acknowledged write survives a failover: before Herald answers a write
 * with 2xx, the replicas of the masters it wrote to have it too (`WAIT`).
 *
 * Redis replicates asynchronously; a master that dies a moment after it
 * answered takes its last writes with it, and the replica promoted in its
 * place never had them. `WAIT n timeout` blocks until `n` replicas
 * acknowledge everything the connection wrote so far. Herald waits for
 * `HERALD_REDIS_WAIT_REPLICAS` (default 1), never for more replicas than
 * the master has connected at that moment (read with `ROLE`, at most once a
 * second): a master without replicas answers at once, one whose replica is
 * away does not stall every write for the timeout.
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
    const wanted = Math.min(this.wait.replicas, await this.connectedReplicas(master, state));
    if (wanted === 0) return;
    const acknowledged = await master.wait(wanted, this.wait.timeoutMs);
    if (acknowledged < wanted) {
      // Read the replicas again next time: one may have gone.
      state.replicas = undefined;
      throw new NotReplicatedError(acknowledged, wanted, this.wait.timeoutMs);
    }
  }

  private async connectedReplicas(master: Redis, state: MasterState): Promise<number> {
    const now = Date.now();
    if (state.replicas !== undefined && now - state.replicas.readAt < ROLE_TTL_MS) return state.replicas.count;
    const role = (await master.role()) as [string, number, unknown[]?];
    const count = role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 0;
    state.replicas = { count, readAt: now };
    return count;
  }
}
