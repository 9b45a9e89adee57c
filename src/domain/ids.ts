/**
 * ULIDs for incidents, updates and maintenances: sortable by time, unique
 * across processes. ulidx's default source asks the OS for randomness once
 * per character (16 calls per id — 18% of the API's CPU when updates were
 * posted at saturation); this one draws from a pool of crypto-random
 * numbers, refilled 4 KiB at a time.
 */
import { randomFillSync } from 'node:crypto';
import { ulid } from 'ulidx';

const pool = new Uint32Array(1024);
let next = pool.length;

function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]! / 2 ** 32;
}

/** A ULID for the given time (epoch ms). */
export function newUlid(timeMs: number): string {
  return ulid(timeMs, pooledRandom);
}
