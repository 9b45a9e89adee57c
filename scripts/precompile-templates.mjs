#!/usr/bin/env node
/**
 * Precompiles the built-in templates/ at build (`npm run build` runs it after
 * tsc), so that no process compiles them at start (contract §1): writes
 * dist/src/render/builtin-templates.js, Handlebars' own template specs with
 * the SHA-256 of each source. Every template is checked and trial-rendered
 * as at startup: a broken built-in template fails the build, naming its file
 * and line. A process whose built-in file no longer matches its hash (edited
 * since the build) compiles that file at start instead.
 */
import { writeFileSync } from 'node:fs';

import { BUILTIN_KINDS, builtinTemplatesDir, precompileTemplates, PRECOMPILED_MODULE, TemplateError } from '../dist/src/render/templates.js';

const target = new URL(`../dist/src/render/${PRECOMPILED_MODULE}`, import.meta.url);
try {
  writeFileSync(target, await precompileTemplates({ builtinDir: builtinTemplatesDir(), kinds: BUILTIN_KINDS }));
} catch (error) {
  if (!(error instanceof TemplateError)) throw error;
  process.stderr.write(`precompile-templates: ${error.message}\n`);
  process.exit(1);
}
