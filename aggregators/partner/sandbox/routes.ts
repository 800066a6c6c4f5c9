import { Router, json, type Request, type Response } from 'express';
import type { SandboxClock } from '../../sandbox-kit/index.js';
import { bearerAuth, readBody, readIds, sendOutcome, sendPartnerError } from './http.js';
import type { IdempotencyStore } from './idempotency.js';
import type { PartnerStore } from './store.js';
import {
  activityBodySchema,
  availabilityBodySchema,
  cancelBookingBodySchema,
  cancelSessionBodySchema,
  confirmBookingBodySchema,
  rejectBookingBodySchema,
  sessionBodySchema,
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

  /** The venue and reference of a venue-scoped path, or undefined after answering 400/404. */
  const venueScoped = (req: Request, res: Response) => {
    const ids = readIds(req, res, { venueId: 'venue_id', reference: 'reference' });
    if (!ids) return undefined;
    if (!store.knowsVenue(ids.venueId)) {
      sendPartnerError(res, 404, 'venue_not_found', `venue ${ids.venueId} is not connected`);
      return undefined;
    }
    return ids;
  };

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
