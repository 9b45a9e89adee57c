/**
 * The fixed cadence: partners never go longer than an incident's cadence
 * without news. Every workers process runs a keeper; the schedules live in
 * Redis, so what is due survives restarts, and claims are atomic, so each
 * holding statement goes out once however many keepers poll.
 *
 * - When an incident's next update is due and none came, the keeper posts a
 *   holding statement (kind `holding`, author `herald`) and queues its
 *   broadcast; posting it moves the clock, which schedules the next one.
 * - Shortly before that, the commander is reminded (Slack DM and/or email).
 * - After an outage of every process, an overdue incident is claimed at once
 *   and gets ONE statement: the posting script checks the due time it was
 *   claimed for, and the statement it posts sets the next due time from now.
 */
import type { Logger } from 'pino';
import { HERALD_AUTHOR } from '../domain/incident.js';
import { StaleScheduleError, type IncidentStore } from '../store/incident-store.js';
import { NotFoundError, ResolvedError } from '../store/errors.js';
import { parseMember, type DueAnnouncement, type MaintenanceStore } from '../store/maintenance-store.js';
import type { DueEntry, ScheduleStore } from '../store/schedule-store.js';
import type { CommanderNotifier } from './commander.js';

/** Longest sleep between looks at the schedule: bounds how late a statement can be. */
const MAX_IDLE_MS = 200;
/** Shortest sleep, so a busy schedule does not spin. */
const MIN_IDLE_MS = 10;
/** Entries claimed per look; the rest are taken on the next look, at once. */
const CLAIM_BATCH = 200;
/** Statements posted at once by one keeper. */
const PARALLELISM = 32;

export interface CadenceKeeperDeps {
  incidents: IncidentStore;
  maintenances: MaintenanceStore;
  schedule: ScheduleStore;
  /** Queues the broadcast of a posted statement. */
  broadcast: (incidentId: string, updateId: string) => Promise<void>;
  commander: CommanderNotifier;
  logger: Logger;
  now?: () => Date;
}

export class CadenceKeeper {
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: CadenceKeeperDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Finishes the look in progress, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One look at the schedules: everything due now is acted on. Returns how many entries were handled. */
  async tick(): Promise<number> {
    const now = this.now();
    const [holding, reminders, announcements] = await Promise.all([
      this.deps.schedule.claimHolding(now, CLAIM_BATCH),
      this.deps.schedule.claimReminders(now, CLAIM_BATCH),
      this.deps.schedule.claimMaintenance(now, CLAIM_BATCH),
    ]);
    await Promise.all([
      inParallel(holding, PARALLELISM, (entry) => this.holdingStatement(entry)),
      inParallel(reminders, PARALLELISM, (entry) => this.remind(entry)),
      this.announce(announcements),
    ]);
    return holding.length + reminders.length + announcements.length;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.loop();
    }, delayMs);
  }

  private async loop(): Promise<void> {
    let delay = MAX_IDLE_MS;
    try {
      const handled = await this.tick();
      if (handled >= CLAIM_BATCH) {
        delay = 0;
      } else {
        const earliest = await this.deps.schedule.earliest();
        if (earliest !== undefined) delay = Math.min(MAX_IDLE_MS, Math.max(MIN_IDLE_MS, earliest - this.now().getTime()));
      }
    } catch (error) {
      this.deps.logger.warn({ err: error instanceof Error ? error.message : error }, 'cadence look failed; trying again');
      delay = 1000;
    }
    this.schedule(delay);
  }

  private async holdingStatement(entry: DueEntry): Promise<void> {
    const { incidentId, dueAt } = entry;
    try {
      const { update } = await this.deps.incidents.postUpdate(
        incidentId,
        // The script replaces the message with the commander's last words.
        { message: '', kind: 'holding', author: HERALD_AUTHOR },
        this.now(),
        dueAt,
      );
      // Counted once posted (if queueing its broadcast fails, the sweeper queues it); a count lost to a Redis hiccup must not stop the broadcast.
      await this.deps.schedule.countHoldingStatement(incidentId).catch((error: unknown) =>
        this.deps.logger.warn({ incidentId, err: error instanceof Error ? error.message : error }, 'could not count a holding statement for /metrics'),
      );
      await this.deps.broadcast(incidentId, update.id);
      const lateMs = Date.parse(update.postedAt) - dueAt.getTime();
      this.deps.logger.info({ incidentId, updateId: update.id, lateMs }, 'holding statement posted');
    } catch (error) {
      // Someone posted, resolved or rescheduled first: nothing is owed.
      if (error instanceof StaleScheduleError || error instanceof ResolvedError || error instanceof NotFoundError) return;
      throw error;
    }
  }

  /**
   * Posts due maintenance announcements. One maintenance's are posted in the
   * order they were due (after an outage, "started" before "completed").
   */
  private async announce(members: readonly string[]): Promise<void> {
    const byMaintenance = new Map<string, DueAnnouncement[]>();
    for (const member of members) {
      const due = parseMember(member);
      if (due === null) continue;
      const list = byMaintenance.get(due.maintenanceId);
      if (list === undefined) byMaintenance.set(due.maintenanceId, [due]);
      else list.push(due);
    }
    await inParallel([...byMaintenance.values()], PARALLELISM, async (dues) => {
      for (const due of dues.sort((a, b) => a.at - b.at)) {
        const update = await this.deps.maintenances.fire(due, this.now());
        if (update === null) continue;
        await this.deps.broadcast(due.maintenanceId, update.id);
        this.deps.logger.info({ maintenanceId: due.maintenanceId, kind: due.kind, lateMs: Date.parse(update.postedAt) - due.at }, 'maintenance announced');
      }
    });
  }

  private async remind(entry: DueEntry): Promise<void> {
    try {
      await this.deps.commander.remind(entry.incidentId, entry.dueAt);
      await this.deps.schedule.markReminded(entry);
    } catch (error) {
      // Left claimed: when the lease runs out, another look tries again (until the update is due).
      this.deps.logger.warn(
        { incidentId: entry.incidentId, err: error instanceof Error ? error.message : error },
        'could not remind the commander; will retry',
      );
    }
  }
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const runner = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item).catch((error: unknown) => errors.push(error));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  if (errors.length > 0) throw errors[0];
}
