/**
 * Rendering an incident update, a maintenance announcement or a message to
 * the commander for each channel from the compiled templates.
 */
import {
  BUILTIN_KINDS,
  builtinTemplatesDir,
  loadTemplates,
  type Channel,
  type CompiledParts,
  type KindsByChannel,
  type LoadedTemplates,
} from './templates.js';
import type { RenderContext, RenderedByChannel } from './types.js';
import { fitToPost, weightedLength } from './x-text.js';

export interface RendererOptions {
  /** The operator's templates directory (`HERALD_TEMPLATES_DIR`); missing files fall back to the built-in ones. */
  overrideDir?: string;
  /**
   * The kinds to load templates for, per channel (see `onEveryChannel` for
   * the same kinds everywhere).
   * @defaultValue {@link BUILTIN_KINDS}: every update kind on every channel,
   * the commander kinds on Slack and email only
   */
  kinds?: KindsByChannel;
  /**
   * The built-in templates directory.
   * @defaultValue {@link builtinTemplatesDir}()
   */
  builtinDir?: string;
  /**
   * The built-in templates precompiled at build, or null to compile them all here.
   * @defaultValue the module `npm run build` writes beside the templates module (see `PRECOMPILED_MODULE`)
   */
  precompiled?: URL | null;
}

type ChannelRenderer<C extends Channel> = (templates: CompiledParts<C>, ctx: RenderContext) => RenderedByChannel[C];

/** Headers and titles are one line: a newline in a title must not become a header break. */
const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

const RENDER: { readonly [C in Channel]: ChannelRenderer<C> } = {
  slack: (t, ctx) => ({ text: t.text(ctx).trim() }),
  x: (t, ctx) => {
    const text = fitToPost(t.text(ctx).trim(), ctx.incident.url);
    return { text, weightedLength: weightedLength(text) };
  },
  email: (t, ctx) => ({ subject: oneLine(t.subject(ctx)), text: t.text(ctx), html: t.html(ctx) }),
  webhook: (t, ctx) => ({ title: oneLine(t.title(ctx)), html: t.html(ctx), markdown: t.markdown(ctx) }),
};

/**
 * Renders updates with templates compiled once by {@link Renderer.load}: a
 * render is only calls of compiled templates, cheap enough to run once per
 * email recipient.
 */
export class Renderer {
  private constructor(private readonly templates: LoadedTemplates) {}

  /** Loads, checks and compiles every template; throws a `TemplateError` when one is missing or broken. */
  static async load(opts: RendererOptions = {}): Promise<Renderer> {
    const templates = await loadTemplates({
      builtinDir: opts.builtinDir ?? builtinTemplatesDir(),
      kinds: opts.kinds ?? BUILTIN_KINDS,
      ...(opts.overrideDir !== undefined ? { overrideDir: opts.overrideDir } : {}),
      ...(opts.precompiled !== undefined ? { precompiled: opts.precompiled } : {}),
    });
    return new Renderer(templates);
  }

  /** The kinds this renderer has templates for, per channel. */
  get kinds(): KindsByChannel {
    return this.templates.kinds;
  }

  /** Files taken from the override directory, relative to it. */
  get overridden(): readonly string[] {
    return this.templates.overridden;
  }

  /** `.hbs` files in the override directory that nothing uses (worth a warning at startup). */
  get unusedOverrides(): readonly string[] {
    return this.templates.unusedOverrides;
  }

  /** Built-in files used as precompiled at build (the others were compiled at load). */
  get precompiled(): readonly string[] {
    return this.templates.precompiled;
  }

  /** Whether `channel` has templates for `kind` (the commander kinds exist on Slack and email only). */
  has(channel: Channel, kind: string): boolean {
    return this.templates.forKind(channel, kind) !== undefined;
  }

  /**
   * What `channel` sends for a message of `kind`. X text is already cut to fit one post.
   * @throws RangeError when `channel` has no templates for `kind`.
   */
  render<C extends Channel>(channel: C, kind: string, ctx: RenderContext): RenderedByChannel[C] {
    const renderChannel: ChannelRenderer<C> = RENDER[channel];
    return renderChannel(this.forKind(channel, kind), ctx);
  }

  /**
   * What every channel sends for an update of `kind` (the preview).
   * @throws RangeError when a channel has no templates for `kind`, as for the commander kinds.
   */
  renderAll(kind: string, ctx: RenderContext): RenderedByChannel {
    return {
      slack: this.render('slack', kind, ctx),
      x: this.render('x', kind, ctx),
      email: this.render('email', kind, ctx),
      webhook: this.render('webhook', kind, ctx),
    };
  }

  private forKind<C extends Channel>(channel: C, kind: string): CompiledParts<C> {
    const templates = this.templates.forKind(channel, kind);
    if (templates === undefined) {
      throw new RangeError(
        `no ${channel} templates loaded for kind ${JSON.stringify(kind)} (${channel} has: ${this.kinds[channel].join(', ') || 'none'})`,
      );
    }
    return templates;
  }
}
