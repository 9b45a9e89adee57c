/** Errors the store raises about the caller's request; the API maps them to 4xx. */

export class NotFoundError extends Error {
  constructor(
    readonly resource: string,
    readonly id: string,
  ) {
    super(`${resource} "${id}" does not exist`);
    this.name = 'NotFoundError';
  }
}

export class ResolvedError extends Error {
  constructor(readonly incidentId: string) {
    super(`incident "${incidentId}" is resolved; it takes no more updates`);
    this.name = 'ResolvedError';
  }
}
