/**
 * Herald's package directory (the one holding package.json), found by walking
 * up from a module: the same whether the code runs from `src/` (tests) or
 * from `dist/src/` (compiled). Files that ship beside the code — the built-in
 * templates, the Lua scripts — are found from it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package directory above the module at `from`, or undefined when no package.json is above it. */
export function packageRoot(from: string | URL): string | undefined {
  for (let dir = path.dirname(fileURLToPath(from)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}
