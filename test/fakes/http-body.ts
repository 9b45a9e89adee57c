/** What the HTTP fakes share: reading a request body and writing a JSON answer. */
import type http from 'node:http';

/** Enough for any request Herald makes; a bigger body is a bug in the caller. */
const MAX_BODY_BYTES = 1024 * 1024;

/** The whole request body as UTF-8; throws past 1 MiB. */
export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Answers `payload` (already serialised) with its length; `headers` may override the content type. */
export function writeJson(res: http.ServerResponse, status: number, contentType: string, headers: Record<string, string> | undefined, payload: string): void {
  res.writeHead(status, { 'content-type': contentType, ...headers, 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
