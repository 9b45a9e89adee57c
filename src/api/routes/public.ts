/**
 * Pages partners reach from links in messages, without a bearer token: the
 * incident's public timeline, and one-click unsubscribe (RFC 8058).
 */
import type { FastifyPluginAsync } from 'fastify';
import { plainTitle } from '../../domain/public-view.js';
import type { ApiDeps } from '../app.js';

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}.meta{color:#57606a}.update{border-left:3px solid #d0d7de;padding:.25rem 0 .25rem 1rem;margin:1rem 0}
.status{font-weight:600;text-transform:capitalize}button{font:inherit;padding:.5rem 1rem}</style></head>
<body>${body}</body></html>`;
}

/**
 * What an incident id can look like (a prefixed ULID; the API's own
 * IncidentParams pattern). Anything else names no incident, and must not
 * reach Redis: `inc_…:updates` would read another key of the incident.
 */
const INCIDENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const publicRoutes: FastifyPluginAsync<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { incidents, audiences, unsubscribeTokens } = deps;

  // Link scanners follow GETs: the unsubscribe itself needs the POST.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // RFC 8058 §3.2: the one-click POST SHOULD be multipart/form-data (urlencoded MAY be used).
  // The signed link alone says who leaves, so the body is read, bounded, and not parsed.
  app.addContentTypeParser('multipart/form-data', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, body);
  });

  app.get<{ Params: { id: string } }>('/incidents/:id', async (request, reply) => {
    const { id } = request.params;
    const incident = INCIDENT_ID.test(id) ? await incidents.getWithUpdates(id) : null;
    reply.type('text/html; charset=utf-8');
    if (incident === null) return reply.code(404).send(page('Not found', '<h1>No such incident</h1>'));
    const updates = [...incident.updates]
      .reverse()
      .map(
        (u) => `<div class="update"><div class="status">${escapeHtml(u.status)}</div>
<div class="meta">${escapeHtml(new Date(u.postedAt).toUTCString())}</div><p>${escapeHtml(u.message)}</p></div>`,
      )
      .join('');
    const next = incident.nextUpdateDueAt
      ? `<p class="meta">Next update by ${escapeHtml(new Date(incident.nextUpdateDueAt).toUTCString())}</p>`
      : '';
    return page(
      plainTitle(incident.title),
      `<h1>${escapeHtml(plainTitle(incident.title))}</h1>
<p class="meta">Severity ${escapeHtml(incident.severity)} · Status <span class="status">${escapeHtml(incident.status)}</span>${
        incident.components.length ? ` · Affects ${escapeHtml(incident.components.join(', '))}` : ''
      }</p>${next}${updates}`,
    );
  });

  app.get<{ Params: { token: string } }>('/unsubscribe/:token', async (request, reply) => {
    reply.type('text/html; charset=utf-8');
    const target = unsubscribeTokens.verify(request.params.token);
    if (target === null) return reply.code(400).send(page('Invalid link', '<h1>This unsubscribe link is not valid</h1>'));
    return page(
      'Unsubscribe',
      `<h1>Unsubscribe ${escapeHtml(target.address)}?</h1>
<p>${escapeHtml(target.address)} will no longer receive incident notifications by email from this sender.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
    );
  });

  app.post<{ Params: { token: string } }>('/unsubscribe/:token', async (request, reply) => {
    const target = unsubscribeTokens.verify(request.params.token);
    if (target === null) {
      return reply.code(400).send({ error: { code: 'invalid_token', message: 'the unsubscribe link is not valid' } });
    }
    const removedFrom = await audiences.removeRecipient(target.audiences, target.address);
    request.log.info({ audiences: removedFrom }, 'recipient unsubscribed');
    if ((request.headers.accept ?? '').includes('text/html')) {
      reply.type('text/html; charset=utf-8');
      return page('Unsubscribed', `<h1>Unsubscribed</h1><p>${escapeHtml(target.address)} will receive no more incident emails.</p>`);
    }
    return { unsubscribed: target.address };
  });
};
