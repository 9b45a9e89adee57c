/**
 * Herald starts from its build (`dist/`, made by `npm ci` through `prepare`,
 * or by `npm run build`): nothing is compiled at start, so any number of
 * processes may start at once (contract §1). The price is a build that can
 * be older than the sources a developer just changed; this tells them.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folders compiled into `dist/` (tsconfig.build.json's `include`). */
const SOURCE_FOLDERS = ['src', 'workers'];

function newestTypeScript(folder: string): { path: string; mtimeMs: number } | undefined {
  let newest: { path: string; mtimeMs: number } | undefined;
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    const { mtimeMs } = statSync(path);
    if (newest === undefined || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  }
  return newest;
}

function mtimeOrZero(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * When this process runs from `dist/` and a source file beside it changed
 * after the build, the source's path relative to the project; otherwise
 * undefined (running from the sources, or an image that ships no sources).
 */
export function sourceNewerThanBuild(entryUrl: string): string | undefined {
  const entry = fileURLToPath(entryUrl);
  const marker = `${join('dist', 'src')}`;
  const at = entry.lastIndexOf(marker);
  if (at < 0) return undefined;
  const root = entry.slice(0, at);
  let built: number;
  try {
    // tsc rewrites only the files whose output changed; its build info is written by every build that changed anything.
    built = Math.max(statSync(entry).mtimeMs, mtimeOrZero(join(root, 'dist', '.tsbuildinfo')));
  } catch {
    return undefined;
  }
  for (const folder of SOURCE_FOLDERS) {
    let newest;
    try {
      newest = newestTypeScript(join(root, folder));
    } catch {
      continue; // no sources here (a container image): nothing to compare
    }
    if (newest !== undefined && newest.mtimeMs > built) return newest.path.slice(root.length);
  }
  return undefined;
}
