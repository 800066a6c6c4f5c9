import { Router, json, type Response } from 'express';
import { z } from 'zod';
import { sendError } from '../../sandbox-kit/index.js';
import { SandboxControlError, type BookingFlow, type SentEvent } from './booking-flow.js';
import { bookingView, type SandboxStore } from './store.js';
import { toFieldIssues } from '../schemas.js';

const idInput = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]);

const bookingRequestBody = z.strictObject({
  gym_id: idInput,
  slot_id: idInput,
  class_id: idInput.optional(),
  user: z.strictObject({ unique_token: z.string().min(1).optional(), name: z.string().optional(), email: z.string().optional() }).optional(),
  booking_number: z.string().min(1).optional(),
});
const cancelBody = z.strictObject({ late: z.boolean().optional() });
const webhookBody = z.strictObject({ url: z.url().nullable() });

export interface WellhubControlDeps {
  store: SandboxStore;
  flow: BookingFlow;
  webhookUrl: () => string | undefined;
  setWebhookUrl: (url: string | undefined) => void;
}

/**
 * Wellhub-specific controls under /__sandbox (next to the kit's calls, state, reset, faults and clock): play a
 * member who books, cancels or checks in (each sent as a signed webhook), inspect deliveries, point webhooks
 * somewhere, and delete a class as only Wellhub can.
 */
export function createWellhubControlRouter({ store, flow, webhookUrl, setWebhookUrl }: WellhubControlDeps): Router {
  const router = Router();
  router.use(json());

  const run = (res: Response, action: () => SentEvent, status: number) => {
    try {
      const sent = action();
      res.status(status).json({ booking: sent.booking, event: sent.event });
    } catch (error) {
      if (error instanceof SandboxControlError) return sendError(res, error.status, error.message);
      throw error;
    }
  };

  router.post('/bookings', (req, res) => {
    const parsed = bookingRequestBody.safeParse(req.body ?? {});
    if (!parsed.success) return sendError(res, 400, 'invalid booking request', toFieldIssues(parsed.error));
    const body = parsed.data;
    const input = { gymId: body.gym_id, slotId: body.slot_id, classId: body.class_id, user: body.user, bookingNumber: body.booking_number };
    run(res, () => flow.requestBooking(input), 201);
  });

  router.post('/bookings/:booking_number/cancel', (req, res) => {
    const parsed = cancelBody.safeParse(req.body ?? {});
    if (!parsed.success) return sendError(res, 400, 'invalid cancellation', toFieldIssues(parsed.error));
    run(res, () => flow.cancelByMember(String(req.params.booking_number), parsed.data.late ?? false), 200);
  });

  router.post('/bookings/:booking_number/checkin', (req, res) => {
    run(res, () => flow.checkIn(String(req.params.booking_number)), 200);
  });

  router.get('/bookings/:booking_number', (req, res) => {
    const booking = store.bookings.get(String(req.params.booking_number));
    if (!booking) return sendError(res, 404, `unknown booking ${String(req.params.booking_number)}`);
    res.json(bookingView(booking));
  });

  router.get('/deliveries', (_req, res) => {
    res.json({ deliveries: flow.deliveries() });
  });

  router.get('/webhook', (_req, res) => {
    res.json({ url: webhookUrl() ?? null });
  });
  router.put('/webhook', (req, res) => {
    const parsed = webhookBody.safeParse(req.body);
    if (!parsed.success) return sendError(res, 400, 'body must be { "url": "<http url>" | null }', toFieldIssues(parsed.error));
    setWebhookUrl(parsed.data.url ?? undefined);
    res.json({ url: webhookUrl() ?? null });
  });

  router.delete('/gyms/:gym_id/classes/:class_id', (req, res) => {
    const gym = store.gym(String(req.params.gym_id));
    const cls = gym && store.classOf(gym.id, String(req.params.class_id));
    if (!cls) return sendError(res, 404, 'class not found');
    cls.deleted = true;
    res.status(204).end();
  });

  return router;
}
