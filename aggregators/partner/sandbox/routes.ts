import { Router, json, type Request, type Response } from 'express';
import type { SandboxClock } from '../../sandbox-kit/index.js';
import { bearerAuth, readBody, readIds, readQuery, sendOutcome, sendPartnerError } from './http.js';
import type { IdempotencyStore } from './idempotency.js';
import { decodeSessionCursor, encodeSessionCursor, type PartnerStore } from './store.js';
import {
  activityBodySchema,
  availabilityBodySchema,
  cancelBookingBodySchema,
  cancelSessionBodySchema,
  confirmBookingBodySchema,
  listSessionsQuerySchema,
  rejectBookingBodySchema,
  SESSION_PAGE_DEFAULT,
  sessionBodySchema,
  type SessionPage,
} from '../schemas.js';

export interface RouteParts {
  store: PartnerStore;
  idempotency: IdempotencyStore;
  clock: SandboxClock;
  apiToken: string;
}

/** The contract's /v1 API (CONTRACT.md, Endpoints) over the in-memory store. */
export function createPartnerRouter({ store, idempotency, clock, apiToken }: RouteParts): Router {
  const router = Router();
  // Auth first: an unauthenticated caller learns nothing, not even that its JSON is malformed.
  router.use(bearerAuth(apiToken));
  router.use(json({ limit: '256kb' }));
  router.use(idempotency.middleware());

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok', time: new Date(clock.now()).toISOString() });
  });

  /** False after answering 404 for a venue the aggregator does not know. */
  const knownVenue = (res: Response, venueId: string) => {
    if (store.knowsVenue(venueId)) return true;
    sendPartnerError(res, 404, 'venue_not_found', `venue ${venueId} is not connected`);
    return false;
  };

  /** The venue and reference of a venue-scoped path, or undefined after answering 400/404. */
  const venueScoped = (req: Request, res: Response) => {
    const ids = readIds(req, res, { venueId: 'venue_id', reference: 'reference' });
    return ids && knownVenue(res, ids.venueId) ? ids : undefined;
  };

  router.get('/venues/:venueId/sessions', (req, res) => {
    const ids = readIds(req, res, { venueId: 'venue_id' });
    if (!ids || !knownVenue(res, ids.venueId)) return;
    const query = readQuery(req, res, listSessionsQuerySchema);
    if (!query) return;
    const after = query.cursor === undefined ? undefined : decodeSessionCursor(query.cursor);
    if (query.cursor !== undefined && after === undefined) {
      const fields = [{ field: 'cursor', message: 'is not a next_cursor of this endpoint' }];
      sendPartnerError(res, 400, 'validation_failed', 'cursor: is not a next_cursor of this endpoint', fields);
      return;
    }
    const page = store.listSessions(ids.venueId, {
      activityReference: query.activity_reference,
      from: query.from === undefined ? undefined : Date.parse(query.from),
      to: query.to === undefined ? undefined : Date.parse(query.to),
      after,
      limit: query.limit ?? SESSION_PAGE_DEFAULT,
    });
    const body: SessionPage = { items: page.items, next_cursor: page.next ? encodeSessionCursor(page.next) : null };
    res.json(body);
  });

  router.put('/venues/:venueId/activities/:reference', (req, res) => {
    const ids = venueScoped(req, res);
    const body = ids && readBody(req, res, activityBodySchema);
    if (ids && body) sendOutcome(res, store.upsertActivity(ids.venueId, ids.reference, body));
  });

  router.put('/venues/:venueId/sessions/:reference', (req, res) => {
    const ids = venueScoped(req, res);
    const body = ids && readBody(req, res, sessionBodySchema);
    if (ids && body) sendOutcome(res, store.upsertSession(ids.venueId, ids.reference, body));
  });

  router.patch('/venues/:venueId/sessions/:reference/availability', (req, res) => {
    const ids = venueScoped(req, res);
    const body = ids && readBody(req, res, availabilityBodySchema);
    if (ids && body) sendOutcome(res, store.patchAvailability(ids.venueId, ids.reference, body));
  });

  router.delete('/venues/:venueId/sessions/:reference', (req, res) => {
    const ids = venueScoped(req, res);
    if (ids) sendOutcome(res, store.deleteSession(ids.venueId, ids.reference));
  });

  router.post('/venues/:venueId/sessions/:reference/cancel', (req, res) => {
    const ids = venueScoped(req, res);
    const body = ids && readBody(req, res, cancelSessionBodySchema);
    if (ids && body) sendOutcome(res, store.cancelSession(ids.venueId, ids.reference, body.reason));
  });

  const bookingId = (req: Request, res: Response) => readIds(req, res, { bookingId: 'booking_id' })?.bookingId;

  router.get('/venues/:venueId/bookings/:bookingId', (req, res) => {
    const ids = readIds(req, res, { venueId: 'venue_id', bookingId: 'booking_id' });
    if (ids) sendOutcome(res, store.read(ids.venueId, ids.bookingId));
  });

  router.post('/bookings/:bookingId/confirm', (req, res) => {
    const id = bookingId(req, res);
    const body = id && readBody(req, res, confirmBookingBodySchema);
    if (id && body) sendOutcome(res, store.confirm(body.venue_id, id));
  });

  router.post('/bookings/:bookingId/reject', (req, res) => {
    const id = bookingId(req, res);
    const body = id && readBody(req, res, rejectBookingBodySchema);
    if (id && body) sendOutcome(res, store.reject(body.venue_id, id, body.reason_code, body.message));
  });

  router.post('/bookings/:bookingId/cancel', (req, res) => {
    const id = bookingId(req, res);
    const body = id && readBody(req, res, cancelBookingBodySchema);
    if (id && body) sendOutcome(res, store.cancelByVenue(body.venue_id, id, body.message));
  });

  return router;
}
