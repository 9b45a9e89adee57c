/**
 * One system call per tick for a Redis connection's writes.
 *
 * ioredis writes every command to its socket the moment it is issued, and
 * every write is a system call: a broadcast job or an API request issues a
 * few commands, a worker runs sixteen jobs at once, and profiles of Herald
 * at 500 updates/s show a third of its CPU in those writes
 * (`writeUtf8String`, `writeBuffer`). Corked until the end of the tick, the
 * commands issued in one turn of the event loop leave in one `writev`, as
 * node-redis sends them: the same bytes in the same order, sent no later
 * than the tick they were written in ends.
 */
import type { Duplex } from 'node:stream';

const coalescing = new WeakSet<Duplex>();

/** Makes `socket` send what is written to it in one tick with one system call at the end of the tick. */
export function coalesceWritesPerTick(socket: Duplex): void {
  if (coalescing.has(socket)) return;
  coalescing.add(socket);
  const write = socket.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Duplex, ...args: Parameters<Duplex['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Duplex['write'];
}
