/**
 * Small assertions shared by the API tests: the contract's error shape, and
 * the few bodies most tests start from.
 */
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { Stack } from '../support/stack.js';

/** The contract's error body: `{"error": {"code", "message", "details"?}}`. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/**
 * Asserts an answer is the contract's JSON error with this status (and code,
 * when given) and returns the error object for further checks.
 */
export function expectError(res: LightMyRequestResponse, status: number, code?: string): ErrorBody {
  expect(res.statusCode, `status of ${res.body.slice(0, 300)}`).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json() as { error?: ErrorBody };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
  expect(body.error!.message.length).toBeGreaterThan(0);
  if (code !== undefined) expect(body.error!.code).toBe(code);
  return body.error!;
}

/** Every field name an error mentions, in its message and its details. */
export function fieldsNamed(error: ErrorBody): string {
  return `${error.message}\n${JSON.stringify(error.details ?? null)}`;
}

/** A valid `POST /v1/incidents` body; `overrides` replace or add fields. */
export function incidentBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: 'Email delivery delayed',
    severity: 'major',
    status: 'investigating',
    message: 'We are investigating delays in outbound email.',
    components: ['email'],
    cadenceSeconds: 1800,
    ...overrides,
  };
}

/** Opens an incident and returns the 201 body. */
export async function openIncident(
  stack: Stack,
  overrides: Record<string, unknown> = {},
): Promise<{ incident: Record<string, unknown> & { id: string }; update: Record<string, unknown> & { id: string }; deliveries: { planned: number } }> {
  const res = await stack.api('POST', '/v1/incidents', incidentBody(overrides));
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

/** Ids of every incident the API lists. */
export async function incidentIds(stack: Stack, query = ''): Promise<string[]> {
  const res = await stack.api('GET', `/v1/incidents${query}`);
  expect(res.statusCode).toBe(200);
  return (res.json().incidents as Array<{ id: string }>).map((i) => i.id);
}

/** Lets in-flight work (queue jobs, deliveries) run for a moment before asserting that nothing happened. */
export function settle(ms = 400): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
