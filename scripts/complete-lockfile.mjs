#!/usr/bin/env node
/**
 * Completes package-lock.json with the other platforms' native packages.
 *
 * Why: the npm registry this project is developed against serves only this
 * platform's native builds (e.g. @rollup/rollup-darwin-arm64 answers 404), so
 * `npm install` leaves them out of the lockfile, and `npm ci` then refuses the
 * lockfile as out of sync ("Missing: … from lock file"). A lockfile written
 * against the full registry lists them as optional entries with their `os`,
 * `cpu` and `libc`; npm skips them on every other platform without fetching.
 * This script adds exactly those entries, read from the parents'
 * `optionalDependencies`. Run it after `npm install` changes the lockfile;
 * it is idempotent and changes nothing when nothing is missing.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'openharmony', 'win32', 'sunos', 'aix', 'netbsd'];
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el'];

/** os/cpu/libc from a native package's name, e.g. rollup-linux-arm64-musl. */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p));
  if (os === undefined || cpu === undefined) return undefined;
  const libc = os === 'linux' ? (parts.some((p) => p.startsWith('musl')) ? 'musl' : 'glibc') : undefined;
  return { os, cpu, libc };
}

let added = 0;
for (const [location, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (packages[key] !== undefined || packages[`${location}/${key}`] !== undefined) continue;
    const platform = platformOf(name);
    if (platform === undefined) continue;
    packages[key] = {
      version,
      cpu: [platform.cpu],
      ...(entry.dev === true && { dev: true }),
      ...(platform.libc !== undefined && { libc: [platform.libc] }),
      optional: true,
      os: [platform.os],
    };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} optional platform entr${added === 1 ? 'y' : 'ies'}`);
