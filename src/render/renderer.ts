/**
 * Rendering an incident update for each channel from the compiled templates.
 */
import { UPDATE_KINDS } from '../domain/incident.js';
import {
  builtinTemplatesDir,
  loadTemplates,
  type Channel,
  type CompiledKind,
  type LoadedTemplates,
} from './templates.js';
import type { RenderContext, RenderedByChannel } from './types.js';
import { fitToPost, weightedLength } from './x-text.js';

export interface RendererOptions {
  /** The operator's templates directory (`HERALD_TEMPLATES_DIR`); missing files fall back to the built-in ones. */
  overrideDir?: string;
  /**
   * The kinds to load templates for.
   * @defaultValue {@link UPDATE_KINDS}
   */
  kinds?: readonly string[];
  /**
   * The built-in templates directory.
   * @defaultValue {@link builtinTemplatesDir}()
   */
  builtinDir?: string;
}

type ChannelRenderer<C extends Channel> = (templates: CompiledKind, ctx: RenderContext) => RenderedByChannel[C];

/** Headers and titles are one line: a newline in a title must not become a header break. */
const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

const RENDER: { readonly [C in Channel]: ChannelRenderer<C> } = {
  slack: (t, ctx) => ({ text: t.slack.text(ctx).trim() }),
  x: (t, ctx) => {
    const text = fitToPost(t.x.text(ctx).trim(), ctx.incident.url);
    return { text, weightedLength: weightedLength(text) };
  },
  email: (t, ctx) => ({ subject: oneLine(t.email.subject(ctx)), text: t.email.text(ctx), html: t.email.html(ctx) }),
  webhook: (t, ctx) => ({ title: oneLine(t.webhook.title(ctx)), html: t.webhook.html(ctx), markdown: t.webhook.markdown(ctx) }),
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
      kinds: opts.kinds ?? UPDATE_KINDS,
      ...(opts.overrideDir !== undefined ? { overrideDir: opts.overrideDir } : {}),
    });
    return new Renderer(templates);
  }

  /** The kinds this renderer has templates for. */
  get kinds(): readonly string[] {
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

  /** What `channel` sends for an update of `kind`. X text is already cut to fit one post. */
  render<C extends keyof RenderedByChannel>(channel: C, kind: string, ctx: RenderContext): RenderedByChannel[C] {
    const renderChannel: ChannelRenderer<C> = RENDER[channel];
    return renderChannel(this.forKind(kind), ctx);
  }

  /** What every channel sends for an update of `kind` (the preview). */
  renderAll(kind: string, ctx: RenderContext): RenderedByChannel {
    const templates = this.forKind(kind);
    return {
      slack: RENDER.slack(templates, ctx),
      x: RENDER.x(templates, ctx),
      email: RENDER.email(templates, ctx),
      webhook: RENDER.webhook(templates, ctx),
    };
  }

  private forKind(kind: string): CompiledKind {
    const templates = this.templates.forKind(kind);
    if (templates === undefined) {
      throw new RangeError(`no templates loaded for kind ${JSON.stringify(kind)} (loaded: ${this.kinds.join(', ')})`);
    }
    return templates;
  }
}
