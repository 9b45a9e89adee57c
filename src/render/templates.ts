/**
 * Loading the templates: every file each channel's kinds need, from the
 * operator's directory when it has that file and from the built-in
 * `templates/` otherwise, checked and compiled once at startup.
 */
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
}

export interface LoadedTemplates {
  readonly kinds: KindsByChannel;
  /** The compiled templates of `kind` on `channel`, or undefined when that channel has no such kind. */
  forKind<C extends Channel>(channel: C, kind: string): CompiledParts<C> | undefined;
  /** Files taken from the override directory, relative to it (e.g. `slack/opened.hbs`). */
  readonly overridden: readonly string[];
  /** `.hbs` files in the override directory that no kind or partial uses (a typo in a name?). */
  readonly unusedOverrides: readonly string[];
}

/**
 * The built-in `templates/` directory: found by walking up from this module
 * to the directory holding package.json, so it is the same whether the code
 * runs from `src/` (tests) or from `dist/src/` (compiled).
 */
export function builtinTemplatesDir(from: string | URL = import.meta.url): string {
  const start = path.dirname(fileURLToPath(from));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'templates');
    if (path.dirname(dir) === dir) {
      throw new TemplateError(`cannot find the built-in templates: no package.json above ${start}`);
    }
  }
}

/** Reads, checks and compiles every template of `kinds`; throws {@link TemplateError} on the first problem. */
export async function loadTemplates(options: LoadTemplatesOptions): Promise<LoadedTemplates> {
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
    const environments = new Map<Escaping, ChannelEnvironment>();
    const environmentFor = (escaping: Escaping): ChannelEnvironment => {
      let environment = environments.get(escaping);
      if (environment === undefined) {
        environment = new ChannelEnvironment(escaping, partials);
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
        for (const ctx of sampleContexts(kind)) trialRender(template, ctx, file.path);
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
  });
}

/** A template file, parsed once: to report errors with their line, to check helper and partial names, and to compile. */
class SourceFile {
  private astCompiled = false;

  constructor(
    /** Absolute path of the file read (override or built-in). */
    readonly path: string,
    readonly source: string,
    /** As parsed, before Handlebars' whitespace control (which compiling applies). */
    readonly ast: hbs.AST.Program,
  ) {}

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
        return parseSource(overridePath, source);
      }
    }
    const builtinPath = path.join(this.builtinDir, relative);
    const source = readIfPresent(builtinPath);
    if (source === undefined) throw new TemplateError(`missing template ${builtinPath}`, builtinPath);
    return parseSource(builtinPath, source);
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

function parseSource(file: string, source: string): SourceFile {
  try {
    return new SourceFile(file, source, Handlebars.parseWithoutProcessing(source));
  } catch (error) {
    throw templateErrorFrom(file, error);
  }
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

  constructor(escaping: Escaping, partials: ReadonlyMap<string, SourceFile>) {
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
    this.partialNames = new Set(partials.keys());
    for (const [name, file] of partials) {
      this.handlebars.registerPartial(name, this.compile(file));
    }
  }

  /** Checks helper and partial names, then compiles (Handlebars compiles lazily: the trial render finishes the job). */
  compile(file: SourceFile): CompiledTemplate {
    checkNames(file, new Set(Object.keys(this.handlebars.helpers)), this.partialNames);
    try {
      return this.handlebars.compile<RenderContext>(file.compileInput(), this.compileOptions);
    } catch (error) {
      throw templateErrorFrom(file.path, error);
    }
  }
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
