/**
 * Every request and answer of Wellhub's Booking API and its webhooks, as zod schemas. The client validates what it
 * sends and parses what it receives with them; the sandbox enforces the same request schemas, so the two cannot
 * disagree about the contract.
 */
export * from './schema-common.js';
export * from './class-schemas.js';
export * from './slot-schemas.js';
export * from './setup-schemas.js';
export * from './booking-schemas.js';
export * from './webhook-schemas.js';
