/**
 * Loading the templates: every file each channel's kinds need, from the
 * operator's directory when it has that file and from the built-in
 * `templates/` otherwise. The built-in ones are compiled and trial-rendered
 * at build (`npm run build` runs scripts/precompile-templates.mjs, which
 * writes {@link PRECOMPILED_MODULE} beside this module in dist/); the
 * operator's are checked, compiled and trial-rendered at startup, as is a
 * built-in file changed since the build.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Handlebars from 'handlebars';

import {
  COMMANDER_KINDS,
  MAINTENANCE_KINDS,
  UPDATE_KINDS,
  type CommanderKind,
  type MaintenanceKind,
  type MaintenanceStatus,
  type UpdateKind,
} from '../domain/incident.js';
import { packageRoot } from '../package-root.js';
import { ESCAPE_TEXT, type Escaping } from './escape.js';
import { createHelpers } from './helpers.js';
import type { RenderContext, RenderedByChannel } from './types.js';

/** A template that cannot be used: unreadable, missing, malformed, or failing its trial render. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';

  constructor(
    message: string,
    /** The template file at fault, when one is. */
    readonly file?: string,
    /** The 1-based line in `file`, when known. */
    readonly line?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export type Channel = keyof RenderedByChannel;

export const CHANNELS: readonly Channel[] = ['slack', 'x', 'email', 'webhook'];

/** One file of a kind: which output it becomes, its file name suffix, how values in it are escaped. */
export interface TemplatePartSpec {
  readonly part: string;
  /** `templates/<channel>/<kind><suffix>`. */
  readonly suffix: string;
  readonly escaping: Escaping;
}

/** The files every kind needs, per channel. */
export const CHANNEL_PARTS = {
  slack: [{ part: 'text', suffix: '.hbs', escaping: 'slack' }],
  x: [{ part: 'text', suffix: '.hbs', escaping: 'plain' }],
  email: [
    { part: 'subject', suffix: '.subject.hbs', escaping: 'plain' },
    { part: 'text', suffix: '.text.hbs', escaping: 'plain' },
    { part: 'html', suffix: '.html.hbs', escaping: 'html' },
  ],
  webhook: [
    { part: 'title', suffix: '.title.hbs', escaping: 'plain' },
    { part: 'markdown', suffix: '.md.hbs', escaping: 'markdown' },
    { part: 'html', suffix: '.html.hbs', escaping: 'html' },
  ],
} as const satisfies Record<Channel, readonly TemplatePartSpec[]>;

export type PartOf<C extends Channel> = (typeof CHANNEL_PARTS)[C][number]['part'];

/** A compiled template: context in, text out. */
export type CompiledTemplate = (ctx: RenderContext) => string;

/** The compiled templates of one kind on channel `C`, by part. */
export type CompiledParts<C extends Channel> = Readonly<Record<PartOf<C>, CompiledTemplate>>;

/** Which kinds each channel has templates for. */
export type KindsByChannel = { readonly [C in Channel]: readonly string[] };

/**
 * The built-in kinds of each channel. Updates go to audiences on every
 * channel; commander messages are a Slack DM or an email, so only those two
 * channels have templates for them.
 */
export const BUILTIN_KINDS: KindsByChannel = Object.freeze({
  slack: Object.freeze([...UPDATE_KINDS, ...COMMANDER_KINDS]),
  x: UPDATE_KINDS,
  email: Object.freeze([...UPDATE_KINDS, ...COMMANDER_KINDS]),
  webhook: UPDATE_KINDS,
});

/** The same kinds on every channel. */
export function onEveryChannel(kinds: readonly string[]): KindsByChannel {
  return Object.freeze(Object.fromEntries(CHANNELS.map((channel) => [channel, kinds])) as Record<Channel, readonly string[]>);
}

/** `templates/<channel>/_<name>.hbs` is partial `<name>` of that channel. */
const PARTIAL_FILE = /^_([A-Za-z0-9][\w.-]*)\.hbs$/;
/** Kinds become file names: nothing that could leave the directory. */
const KIND_NAME = /^[a-z][a-z0-9-]*$/;

export interface LoadTemplatesOptions {
  /** The built-in templates, see {@link builtinTemplatesDir}. */
  builtinDir: string;
  /** The operator's templates (`HERALD_TEMPLATES_DIR`); each file present here wins over the built-in one. */
  overrideDir?: string;
  /**
   * The kinds to load on each channel, e.g. {@link BUILTIN_KINDS}; each needs
   * every file of {@link CHANNEL_PARTS} for that channel, and a channel has
   * no files for the kinds it does not list.
   */
  kinds: KindsByChannel;
  /**
   * The contexts each template is trial-rendered with at load.
   * @defaultValue {@link sampleRenderContexts}
   */
  sampleContexts?: (kind: string) => readonly RenderContext[];
  /**
   * The built-in templates precompiled at build: a module written by
   * {@link precompileTemplates}, or none. A built-in file whose source still
   * matches its precompiled spec is used as built, neither parsed nor
   * compiled; any other is compiled here.
   * @defaultValue {@link PRECOMPILED_MODULE} beside this module (in dist/
   * after `npm run build`; absent beside the TypeScript sources)
   */
  precompiled?: URL | null;
}

export interface LoadedTemplates {
  readonly kinds: KindsByChannel;
  /** The compiled templates of `kind` on `channel`, or undefined when that channel has no such kind. */
  forKind<C extends Channel>(channel: C, kind: string): CompiledParts<C> | undefined;
  /** Files taken from the override directory, relative to it (e.g. `slack/opened.hbs`). */
  readonly overridden: readonly string[];
  /** `.hbs` files in the override directory that no kind or partial uses (a typo in a name?). */
  readonly unusedOverrides: readonly string[];
  /** Built-in files used as precompiled at build, relative to the built-in directory; every other file was compiled at load. */
  readonly precompiled: readonly string[];
}

/** The module `npm run build` writes beside this one: the built-in templates precompiled. */
export const PRECOMPILED_MODULE = 'builtin-templates.js';

/** One built-in template file as precompiled at build. */
export interface PrecompiledTemplate {
  /** SHA-256 (hex) of the source it was compiled from: a file changed since is compiled at load instead. */
  readonly sha256: string;
  /** What `Handlebars.precompile` made of it, evaluated (it holds functions: the module is JavaScript, not JSON). */
  readonly spec: TemplateSpecification;
}

/**
 * The built-in templates precompiled at build, per escaping (one Handlebars
 * environment of a channel per escaping; a partial is compiled in each).
 */
export type PrecompiledTemplates = Readonly<
  Partial<
    Record<
      Escaping,
      {
        /** {@link compilerFingerprint} of the environment that compiled them: another compiler compiles at load. */
        readonly fingerprint: string;
        /** By file, relative to the built-in directory (`email/opened.html.hbs`). */
        readonly files: Readonly<Record<string, PrecompiledTemplate>>;
      }
    >
  >
>;

/**
 * The built-in `templates/` directory: found by walking up from this module
 * to the directory holding package.json, so it is the same whether the code
 * runs from `src/` (tests) or from `dist/src/` (compiled).
 */
export function builtinTemplatesDir(from: string | URL = import.meta.url): string {
  const root = packageRoot(from);
  if (root === undefined) throw new TemplateError(`cannot find the built-in templates: no package.json above ${path.dirname(fileURLToPath(from))}`);
  return path.join(root, 'templates');
}

/** Reads, checks and compiles every template of `kinds`; throws {@link TemplateError} on the first problem. */
export async function loadTemplates(options: LoadTemplatesOptions): Promise<LoadedTemplates> {
  const precompiled = await importPrecompiled(options.precompiled === undefined ? new URL(PRECOMPILED_MODULE, import.meta.url) : options.precompiled);
  return load(options, { use: precompiled });
}

/**
 * The module that {@link precompileTemplates} returns as text: every built-in
 * template of `kinds` compiled with Handlebars' own `precompile` in the
 * environment it is used in, with the SHA-256 of its source. Every template
 * is also checked and trial-rendered as at load, so a broken built-in
 * template fails the build, with its file and line.
 */
export async function precompileTemplates(options: Pick<LoadTemplatesOptions, 'builtinDir' | 'kinds'>): Promise<string> {
  const record: PrecompiledRecord = new Map();
  await load({ builtinDir: options.builtinDir, kinds: options.kinds }, { record });
  const escapings = [...record].sort(([a], [b]) => a.localeCompare(b));
  const lines = [
    '// The built-in templates/ precompiled by `npm run build` (scripts/precompile-templates.mjs):',
    '// Handlebars template specs, each with the SHA-256 of its source. Generated; do not edit.',
    'export default {',
  ];
  for (const [escaping, { fingerprint, files }] of escapings) {
    lines.push(`  ${JSON.stringify(escaping)}: {`, `    fingerprint: ${JSON.stringify(fingerprint)},`, '    files: {');
    for (const [relative, { sha256, spec }] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`      ${JSON.stringify(relative)}: { sha256: ${JSON.stringify(sha256)}, spec: ${spec} },`);
    }
    lines.push('    },', '  },');
  }
  lines.push('};', '');
  return lines.join('\n');
}

/** What {@link precompileTemplates} collects: per escaping, the fingerprint and each file's hash and spec (as JavaScript source). */
type PrecompiledRecord = Map<Escaping, { fingerprint: string; files: Map<string, { sha256: string; spec: string }> }>;

/** Precompiled templates to use, or to record (at build). */
interface Precompilation {
  use?: PrecompiledTemplates | undefined;
  record?: PrecompiledRecord;
}

async function importPrecompiled(module: URL | null): Promise<PrecompiledTemplates | undefined> {
  if (module === null || !existsSync(fileURLToPath(module))) return undefined;
  try {
    return ((await import(module.href)) as { default: PrecompiledTemplates }).default;
  } catch (error) {
    throw new TemplateError(`cannot load the precompiled templates ${fileURLToPath(module)}: ${errorMessage(error)} (run \`npm run build\`)`, fileURLToPath(module), undefined, {
      cause: error,
    });
  }
}

async function load(options: LoadTemplatesOptions, precompilation: Precompilation): Promise<LoadedTemplates> {
  const { builtinDir, overrideDir } = options;
  const sampleContexts = options.sampleContexts ?? sampleRenderContexts;
  for (const kind of CHANNELS.flatMap((channel) => options.kinds[channel])) {
    if (!KIND_NAME.test(kind)) throw new TemplateError(`invalid template kind ${JSON.stringify(kind)}`);
  }
  const kinds: KindsByChannel = Object.freeze({
    slack: Object.freeze([...new Set(options.kinds.slack)]),
    x: Object.freeze([...new Set(options.kinds.x)]),
    email: Object.freeze([...new Set(options.kinds.email)]),
    webhook: Object.freeze([...new Set(options.kinds.webhook)]),
  });
  if (overrideDir !== undefined && !existsSync(overrideDir)) {
    throw new TemplateError(`the templates directory ${overrideDir} does not exist`, overrideDir);
  }

  const sources = new SourceFiles(builtinDir, overrideDir);
  const compiled = new Map<Channel, Map<string, Readonly<Record<string, CompiledTemplate>>>>();

  for (const channel of CHANNELS) {
    const byKind = new Map<string, Readonly<Record<string, CompiledTemplate>>>();
    compiled.set(channel, byKind);
    const partials = sources.partials(channel);
    // A built-in template was trial-rendered at build with the built-in
    // partials; with one of the operator's among them it is tried again here.
    const partialsAsBuilt = [...partials.values()].every((partial) => !partial.overridden);
    const environments = new Map<Escaping, ChannelEnvironment>();
    const environmentFor = (escaping: Escaping): ChannelEnvironment => {
      let environment = environments.get(escaping);
      if (environment === undefined) {
        environment = new ChannelEnvironment(escaping, partials, precompilation);
        environments.set(escaping, environment);
      }
      return environment;
    };

    for (const kind of kinds[channel]) {
      const parts: Record<string, CompiledTemplate> = {};
      for (const spec of CHANNEL_PARTS[channel]) {
        const file = sources.read(`${channel}/${kind}${spec.suffix}`);
        const environment = environmentFor(spec.escaping);
        const template = environment.compile(file);
        if (!(file.precompiled && partialsAsBuilt)) {
          for (const ctx of sampleContexts(kind)) trialRender(template, ctx, file.path);
        }
        parts[spec.part] = template;
      }
      byKind.set(kind, Object.freeze(parts));
    }
  }

  const unusedOverrides = sources.unusedOverrides();
  return Object.freeze({
    kinds,
    // Every part of CHANNEL_PARTS[channel] was set above, so the record is whole.
    forKind: <C extends Channel>(channel: C, kind: string) => compiled.get(channel)?.get(kind) as CompiledParts<C> | undefined,
    overridden: Object.freeze(sources.overridden()),
    unusedOverrides: Object.freeze(unusedOverrides),
    precompiled: Object.freeze(sources.precompiled()),
  });
}

/** A template file, parsed once when needed: to report errors with their line, to check helper and partial names, and to compile. */
class SourceFile {
  private astCompiled = false;
  private parsed: hbs.AST.Program | undefined;
  private hash: string | undefined;
  /** Set when it was used as precompiled at build. */
  precompiled = false;

  constructor(
    /** Absolute path of the file read (override or built-in). */
    readonly path: string,
    /** Relative to its directory: `<channel>/<file>`. */
    readonly relative: string,
    readonly source: string,
    /** Whether it came from the override directory. */
    readonly overridden: boolean,
  ) {}

  /** As parsed, before Handlebars' whitespace control (which compiling applies). */
  get ast(): hbs.AST.Program {
    if (this.parsed === undefined) {
      try {
        this.parsed = Handlebars.parseWithoutProcessing(this.source);
      } catch (error) {
        throw templateErrorFrom(this.path, error);
      }
    }
    return this.parsed;
  }

  /** SHA-256 (hex) of the source, hashed once: a partial is compiled in each escaping's environment. */
  sha256(): string {
    this.hash ??= createHash('sha256').update(this.source).digest('hex');
    return this.hash;
  }

  /**
   * What to give Handlebars' `compile`: the parsed AST the first time, which
   * saves parsing the file a second time (parsing was half of loading the
   * templates), and the source after that. Compiling rewrites an AST in place
   * (its whitespace control), so an AST is compiled once; a partial used in
   * several environments of a channel is parsed again for each further one.
   */
  compileInput(): string | hbs.AST.Program {
    if (this.astCompiled) return this.source;
    this.astCompiled = true;
    return this.ast;
  }
}

/**
 * Reads files file by file from the override directory, falling back to the
 * built-in one. Synchronously: this runs once, at startup, before anything
 * is served, and a hundred small reads each waiting for the thread pool took
 * longer than the reads themselves on a loaded machine.
 */
class SourceFiles {
  private readonly used = new Set<string>();
  private readonly fromOverride = new Set<string>();
  private readonly files: SourceFile[] = [];

  constructor(
    private readonly builtinDir: string,
    private readonly overrideDir: string | undefined,
  ) {}

  read(relative: string): SourceFile {
    this.used.add(relative);
    if (this.overrideDir !== undefined) {
      const overridePath = path.join(this.overrideDir, relative);
      const source = readIfPresent(overridePath);
      if (source !== undefined) {
        this.fromOverride.add(relative);
        return this.keep(new SourceFile(overridePath, relative, source, true));
      }
    }
    const builtinPath = path.join(this.builtinDir, relative);
    const source = readIfPresent(builtinPath);
    if (source === undefined) throw new TemplateError(`missing template ${builtinPath}`, builtinPath);
    return this.keep(new SourceFile(builtinPath, relative, source, false));
  }

  private keep(file: SourceFile): SourceFile {
    this.files.push(file);
    return file;
  }

  /** The built-in files used as precompiled, each once. */
  precompiled(): string[] {
    return [...new Set(this.files.filter((file) => file.precompiled).map((file) => file.relative))].sort();
  }

  /** The partials of a channel, by name: built-in ones, each replaced by the override's file of that name, plus the override's own. */
  partials(channel: Channel): Map<string, SourceFile> {
    const names = new Set<string>();
    for (const dir of [this.builtinDir, this.overrideDir]) {
      if (dir === undefined) continue;
      for (const entry of listDir(path.join(dir, channel))) {
        if (PARTIAL_FILE.test(entry)) names.add(entry);
      }
    }
    const partials = new Map<string, SourceFile>();
    for (const entry of [...names].sort()) {
      const name = PARTIAL_FILE.exec(entry)?.[1];
      if (name !== undefined) partials.set(name, this.read(`${channel}/${entry}`));
    }
    return partials;
  }

  overridden(): string[] {
    return [...this.fromOverride].sort();
  }

  unusedOverrides(): string[] {
    if (this.overrideDir === undefined) return [];
    const unused: string[] = [];
    for (const channel of CHANNELS) {
      for (const entry of listDir(path.join(this.overrideDir, channel))) {
        const relative = `${channel}/${entry}`;
        if (entry.endsWith('.hbs') && !this.used.has(relative)) unused.push(relative);
      }
    }
    return unused.sort();
  }
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (isNodeError(error) && error.code === 'ENOENT') return undefined;
    throw new TemplateError(`cannot read template ${file}: ${errorMessage(error)}`, file, undefined, { cause: error });
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if (isNodeError(error) && error.code === 'ENOENT') return [];
    throw new TemplateError(`cannot list templates in ${dir}: ${errorMessage(error)}`, dir, undefined, { cause: error });
  }
}

function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Handlebars parse errors say "Parse error on line N"; its other errors carry `lineNumber`. */
function templateErrorFrom(file: string, error: unknown, context = ''): TemplateError {
  const message = errorMessage(error);
  const fromMessage = /Parse error on line (\d+)/.exec(message)?.[1];
  const lineNumber = (error as { lineNumber?: unknown } | null)?.lineNumber;
  const line = fromMessage !== undefined ? Number(fromMessage) : typeof lineNumber === 'number' ? lineNumber : undefined;
  const where = line === undefined ? file : `${file}, line ${line}`;
  return new TemplateError(`template ${where}: ${context}${message}`, file, line, { cause: error });
}

function trialRender(template: CompiledTemplate, ctx: RenderContext, file: string): void {
  try {
    template(ctx);
  } catch (error) {
    throw templateErrorFrom(file, error, 'trial render failed: ');
  }
}

/** The name of the helper `{{value}}` is routed through in environments with their own escaping. */
const ESCAPE_HELPER = 'heraldEscape';

/**
 * One Handlebars environment: one channel's partials, the helpers, and one
 * way of escaping `{{value}}`.
 */
class ChannelEnvironment {
  private readonly handlebars = Handlebars.create();
  private readonly compileOptions: CompileOptions;
  private readonly partialNames: ReadonlySet<string>;
  /** The precompiled templates of this environment, when they were made by this very compiler. */
  private readonly precompiled: Readonly<Record<string, PrecompiledTemplate>> | undefined;
  private readonly record: Map<string, { sha256: string; spec: string }> | undefined;

  constructor(escaping: Escaping, partials: ReadonlyMap<string, SourceFile>, precompilation: Precompilation) {
    const helpers = createHelpers(escaping);
    this.handlebars.registerHelper(helpers);
    this.compileOptions = {
      // Plain text escapes nothing; HTML uses Handlebars' own escaping.
      noEscape: escaping === 'plain',
      knownHelpers: Object.fromEntries(Object.keys(helpers).map((name) => [name, true])),
    };
    if (escaping === 'slack' || escaping === 'markdown') {
      this.handlebars.registerHelper(ESCAPE_HELPER, escapeHelper(ESCAPE_TEXT[escaping]));
      routeEscapingThroughHelper(this.handlebars);
    }
    const fingerprint = compilerFingerprint(this.compileOptions);
    const built = precompilation.use?.[escaping];
    this.precompiled = built?.fingerprint === fingerprint ? built.files : undefined;
    if (precompilation.record !== undefined) {
      // Channels share escapings (x and email's plain text): one entry each, files named by channel.
      let recorded = precompilation.record.get(escaping);
      if (recorded === undefined) {
        recorded = { fingerprint, files: new Map() };
        precompilation.record.set(escaping, recorded);
      }
      this.record = recorded.files;
    }
    this.partialNames = new Set(partials.keys());
    for (const [name, file] of partials) {
      this.handlebars.registerPartial(name, this.compile(file));
    }
  }

  /**
   * A built-in file unchanged since the build: its precompiled template.
   * Any other: checks helper and partial names, then compiles (Handlebars
   * compiles lazily: the trial render finishes the job).
   */
  compile(file: SourceFile): CompiledTemplate {
    const built = file.overridden ? undefined : this.precompiled?.[file.relative];
    if (built !== undefined && built.sha256 === file.sha256()) {
      file.precompiled = true;
      return this.handlebars.template<RenderContext>(built.spec);
    }
    checkNames(file, new Set(Object.keys(this.handlebars.helpers)), this.partialNames);
    try {
      if (this.record !== undefined) {
        // `precompile` returns the spec as JavaScript source (its typings say the evaluated object).
        const spec = this.handlebars.precompile(file.source, this.compileOptions) as unknown as string;
        this.record.set(file.relative, { sha256: file.sha256(), spec });
      }
      return this.handlebars.compile<RenderContext>(file.compileInput(), this.compileOptions);
    } catch (error) {
      throw templateErrorFrom(file.path, error);
    }
  }
}

let ownSource: string | undefined;

/**
 * What a precompiled template depends on besides its source: Handlebars'
 * version, this module (its code generator, see
 * {@link routeEscapingThroughHelper}) and the compile options (the helpers
 * known when it was compiled). Specs made by anything else are not used.
 */
function compilerFingerprint(options: CompileOptions): string {
  ownSource ??= readFileSync(fileURLToPath(import.meta.url), 'utf8');
  return createHash('sha256').update(`${Handlebars.VERSION}\0${JSON.stringify(options)}\0`).update(ownSource).digest('hex');
}

/** Mirrors `Handlebars.Utils.escapeExpression` for non-strings, with another escaper for strings. */
function escapeHelper(escape: (text: string) => string): (value: unknown) => string {
  return (value) => {
    if (typeof value === 'string') return escape(value);
    if (value === null || value === undefined) return '';
    if (typeof value === 'object' && 'toHTML' in value && typeof value.toHTML === 'function') {
      return String(value.toHTML()); // a SafeString: already in the output format
    }
    return escape(String(value));
  };
}

/** The slice of Handlebars' code generator that {@link routeEscapingThroughHelper} relies on. */
interface JavaScriptCompilerInternals {
  compiler: unknown;
  appendEscaped(): void;
  pushSource(source: unknown): void;
  appendToBuffer(source: unknown[]): unknown;
  aliasable(name: string): unknown;
  popStack(): unknown;
}
type JavaScriptCompilerClass = new () => JavaScriptCompilerInternals;

/**
 * Handlebars always escapes `{{value}}` with its module-wide HTML escaper
 * (`container.escapeExpression`), which an environment cannot replace. Its
 * code generator can: this environment's generator emits a call to the
 * escape helper instead. The second argument stands in for the `options`
 * object Handlebars' helper wrapper expects as the last argument.
 * Child programs (block bodies) use `compiler`, so it is set too.
 */
function routeEscapingThroughHelper(handlebars: typeof Handlebars): void {
  const env = handlebars as unknown as { JavaScriptCompiler: JavaScriptCompilerClass };
  const Base = env.JavaScriptCompiler;
  class ChannelCompiler extends Base {
    override appendEscaped(): void {
      this.pushSource(this.appendToBuffer([this.aliasable(`helpers.${ESCAPE_HELPER}`), '(', this.popStack(), ', {})']));
    }
  }
  ChannelCompiler.prototype.compiler = ChannelCompiler;
  env.JavaScriptCompiler = ChannelCompiler;
}

interface AstNode {
  type: string;
  loc?: { start: { line: number } };
  [key: string]: unknown;
}

function isAstNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

function* walk(node: unknown): Generator<AstNode> {
  if (Array.isArray(node)) {
    for (const child of node) yield* walk(child);
    return;
  }
  if (!isAstNode(node)) return;
  yield node;
  for (const [key, child] of Object.entries(node)) {
    if (key !== 'loc' && typeof child === 'object' && child !== null) yield* walk(child);
  }
}

/** A single-segment name (`time`, not `incident.url`, `this` or `@index`), as helpers and partials are named. */
function simpleName(node: unknown): string | undefined {
  if (!isAstNode(node) || node.type !== 'PathExpression') return undefined;
  const { data, depth, parts, original } = node as unknown as { data: boolean; depth: number; parts: string[]; original: string };
  if (data || depth !== 0 || parts.length !== 1 || original !== parts[0]) return undefined;
  return original;
}

/**
 * Unknown helpers and partials, found at load rather than on the first
 * broadcast. `{{name}}` alone may be a value, so only calls with arguments,
 * sub-expressions and `{{> partial}}` are checked.
 */
function checkNames(file: SourceFile, helpers: ReadonlySet<string>, partials: ReadonlySet<string>): void {
  const inlinePartials = new Set<string>();
  for (const node of walk(file.ast.body)) {
    if (node.type === 'DecoratorBlock' && simpleName(node.path) === 'inline') {
      const [name] = node.params as unknown[];
      if (isAstNode(name) && name.type === 'StringLiteral') inlinePartials.add(String(name.value));
    }
  }
  const fail = (node: AstNode, problem: string): never => {
    const line = node.loc?.start.line;
    throw new TemplateError(`template ${file.path}${line === undefined ? '' : `, line ${line}`}: ${problem}`, file.path, line);
  };
  for (const node of walk(file.ast.body)) {
    switch (node.type) {
      case 'MustacheStatement':
      case 'BlockStatement':
      case 'SubExpression': {
        const name = simpleName(node.path);
        const isCall = node.type === 'SubExpression' || (node.params as unknown[]).length > 0 || node.hash != null;
        if (name !== undefined && isCall && !helpers.has(name)) fail(node, `unknown helper "${name}"`);
        break;
      }
      case 'PartialStatement':
      case 'PartialBlockStatement': {
        // A partial block would silently render its own content in place of a misspelt partial: refuse that too.
        const name = simpleName(node.name);
        if (name !== undefined && !partials.has(name) && !inlinePartials.has(name)) fail(node, `unknown partial "${name}"`);
        break;
      }
      case 'Decorator':
      case 'DecoratorBlock':
        if (simpleName(node.path) !== 'inline') fail(node, 'unknown decorator');
        break;
    }
  }
}

/**
 * Realistic contexts every template is trial-rendered with at load: one with
 * every optional field filled, one with only what the kind is about (its
 * maintenance window, reminder or failure), so both branches of the usual
 * `{{#if}}`s run.
 */
export function sampleRenderContexts(kind: string): RenderContext[] {
  const full = sampleRenderContext(kind);
  const { opening: _opening, unsubscribeUrl: _unsubscribeUrl, reminder, ...rest } = full;
  const bare: RenderContext = {
    ...rest,
    incident: { ...full.incident, components: [] },
    update: { ...full.update, seq: 1 },
    nextUpdateDueAt: null,
    ...(reminder !== undefined && { reminder: { dueAt: reminder.dueAt, updateUrl: reminder.updateUrl, curl: reminder.curl } }),
  };
  return [full, bare];
}

/** A realistic context for `kind`, as the preview route or the tests may use. */
export function sampleRenderContext(kind: string): RenderContext {
  if (isKindOf(MAINTENANCE_KINDS, kind)) return sampleMaintenanceContext(kind);
  if (isKindOf(COMMANDER_KINDS, kind)) return sampleCommanderContext(kind);
  return sampleIncidentContext(kind);
}

function isKindOf<K extends string>(kinds: readonly K[], kind: string): kind is K {
  return (kinds as readonly string[]).includes(kind);
}

function sampleIncidentContext(kind: string): RenderContext {
  const resolved = kind === 'resolved';
  const updateKind: UpdateKind = isKindOf(UPDATE_KINDS, kind) ? kind : 'update';
  const opening: RenderContext['update'] = {
    id: '01HZX0SAMPLEUPDATE0000001',
    seq: 1,
    kind: 'opened',
    status: 'investigating',
    message: 'We are investigating delays in outbound email delivery. Messages are queued, not lost.',
    postedAt: '2024-05-14T13:00:00.000Z',
  };
  const status = resolved ? 'resolved' : kind === 'opened' ? 'investigating' : 'identified';
  return {
    incident: {
      id: '01HZX0SAMPLEINCIDENT00001',
      title: 'Email delivery delayed',
      severity: 'major',
      status,
      components: ['email', 'api'],
      createdAt: opening.postedAt,
      resolvedAt: resolved ? '2024-05-14T14:25:00.000Z' : null,
      url: 'https://status.example.com/incidents/01HZX0SAMPLEINCIDENT00001',
    },
    update:
      kind === 'opened'
        ? opening
        : {
            id: '01HZX0SAMPLEUPDATE0000002',
            seq: 2,
            kind: updateKind,
            status,
            message: resolved
              ? 'Queued messages have been delivered and delivery times are back to normal.'
              : 'A misconfigured relay was throttling outbound mail; we are rolling out a fix.',
            postedAt: resolved ? '2024-05-14T14:25:00.000Z' : '2024-05-14T13:30:00.000Z',
          },
    nextUpdateDueAt: resolved ? null : '2024-05-14T14:00:00.000Z',
    opening,
    unsubscribeUrl: 'https://status.example.com/v1/unsubscribe?token=sample',
  };
}

/** What each announcement of the sample maintenance says, and when. */
const SAMPLE_MAINTENANCE_UPDATES: Readonly<
  Record<MaintenanceKind, { status: MaintenanceStatus; message: string; postedAt: string }>
> = {
  'maintenance-scheduled': {
    status: 'scheduled',
    message: 'We will upgrade the primary database. The API may reject writes for up to 10 minutes; the dashboard stays readable throughout.',
    postedAt: '2024-05-07T09:00:00.000Z',
  },
  'maintenance-reminder': {
    status: 'scheduled',
    message: 'We will upgrade the primary database. The API may reject writes for up to 10 minutes; the dashboard stays readable throughout.',
    postedAt: '2024-05-13T02:00:00.000Z',
  },
  'maintenance-started': {
    status: 'in_progress',
    message: 'The database upgrade has started. Writes through the API may be rejected for a few minutes.',
    postedAt: '2024-05-14T02:00:00.000Z',
  },
  'maintenance-completed': {
    status: 'completed',
    message: 'The upgrade is complete and every service is operating normally.',
    postedAt: '2024-05-14T03:40:00.000Z',
  },
  'maintenance-rescheduled': {
    status: 'scheduled',
    message: 'We have moved the upgrade by one week to include the vendor patch released yesterday.',
    postedAt: '2024-05-12T10:00:00.000Z',
  },
  'maintenance-cancelled': {
    status: 'cancelled',
    message: 'The upgrade is no longer needed: the vendor fixed the issue in place.',
    postedAt: '2024-05-13T16:00:00.000Z',
  },
};

function sampleMaintenanceContext(kind: MaintenanceKind): RenderContext {
  const scheduled = SAMPLE_MAINTENANCE_UPDATES['maintenance-scheduled'];
  const announcement = SAMPLE_MAINTENANCE_UPDATES[kind];
  const opening: RenderContext['update'] = {
    id: '01HZX0SAMPLEUPDATE0000011',
    seq: 1,
    kind: 'maintenance-scheduled',
    ...scheduled,
  };
  const window = { startsAt: '2024-05-14T02:00:00.000Z', endsAt: '2024-05-14T04:00:00.000Z' };
  return {
    incident: {
      id: '01HZX0SAMPLEMAINTENANCE01',
      title: 'Database upgrade',
      severity: 'maintenance',
      status: announcement.status,
      components: ['api', 'dashboard'],
      createdAt: scheduled.postedAt,
      resolvedAt: null,
      url: 'https://status.example.com/maintenances/01HZX0SAMPLEMAINTENANCE01',
    },
    update: kind === 'maintenance-scheduled' ? opening : { id: '01HZX0SAMPLEUPDATE0000012', seq: 2, kind, ...announcement },
    // Maintenances promise their window, not a cadence of updates.
    nextUpdateDueAt: null,
    opening,
    unsubscribeUrl: 'https://status.example.com/v1/unsubscribe?token=sample',
    maintenance:
      kind === 'maintenance-rescheduled'
        ? { startsAt: '2024-05-21T02:00:00.000Z', endsAt: '2024-05-21T04:30:00.000Z', previous: window }
        : window,
  };
}

/** An open incident whose commander is reminded of an update due, or told of an update that could not be delivered. */
function sampleCommanderContext(kind: CommanderKind): RenderContext {
  // The commander is not a subscriber: no unsubscribe link.
  const { unsubscribeUrl: _unsubscribeUrl, ...incident } = sampleIncidentContext('update');
  if (kind === 'delivery-failed') {
    return {
      ...incident,
      failure: { channel: 'webhook', target: 'https://blog.example.com/hooks/status', error: 'HTTP 503 Service Unavailable', attempts: 8 },
    };
  }
  const updateUrl = `https://status.example.com/v1/incidents/${incident.incident.id}/updates`;
  return {
    ...incident,
    reminder: {
      dueAt: '2024-05-14T14:00:00.000Z',
      sentAt: '2024-05-14T13:55:00.000Z',
      updateUrl,
      curl: `curl -X POST ${updateUrl} -H "Authorization: Bearer $HERALD_TOKEN" -H 'Content-Type: application/json' -d '{"message": "What has changed since the last update"}'`,
    },
  };
}
