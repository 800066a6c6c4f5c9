import type { Response, Router } from 'express';
import { z } from 'zod';
import { sendError } from '../../sandbox-kit/index.js';
import type { PartnerSandboxApp } from './handle.js';
import { fieldErrors, idSchema, memberSchema } from '../schemas.js';

const bookingRequestBody = z.strictObject({
  venue_id: idSchema,
  session_reference: idSchema,
  activity_reference: idSchema.optional(),
  booking_id: idSchema.optional(),
  member: memberSchema.optional(),
});
const memberCancelBody = z.strictObject({ late: z.boolean().optional() });
const webhookTargetBody = z.strictObject({ url: z.url().nullable() });

type Handle = Omit<PartnerSandboxApp, 'app'>;

/** A refusal of the store (unknown booking, wrong state) in the kit's control error form. */
async function answer(res: Response, status: number, work: () => Promise<unknown>): Promise<void> {
  try {
    res.status(status).json(await work());
  } catch (error) {
    const code = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
    sendError(res, typeof code === 'number' ? code : 500, error instanceof Error ? error.message : String(error));
  }
}

/**
 * The partner sandbox's own controls, next to the kit's /calls, /state, /reset, /faults and /clock: what members do at
 * the aggregator (book, cancel, check in), which sends the signed webhooks, and where they go.
 */
export function mountSandboxControls(router: Router, sandbox: Handle): void {
  router.post('/bookings', async (req, res) => {
    const parsed = bookingRequestBody.safeParse(req.body);
    if (!parsed.success) return sendError(res, 400, 'invalid booking request', fieldErrors(parsed.error));
    const body = parsed.data;
    await answer(res, 201, () =>
      sandbox.sendBookingRequest({
        venueId: body.venue_id,
        sessionReference: body.session_reference,
        activityReference: body.activity_reference,
        bookingId: body.booking_id,
        member: body.member,
      }),
    );
  });

  router.post('/bookings/:id/member-cancel', async (req, res) => {
    const parsed = memberCancelBody.safeParse(req.body ?? {});
    if (!parsed.success) return sendError(res, 400, 'invalid cancellation', fieldErrors(parsed.error));
    const late = parsed.data.late;
    await answer(res, 200, () => sandbox.cancelBookingByMember(req.params.id, late === undefined ? {} : { late }));
  });

  router.post('/bookings/:id/check-in', async (req, res) => {
    await answer(res, 200, () => sandbox.checkIn(req.params.id));
  });

  router.post('/events/:id/redeliver', async (req, res) => {
    await answer(res, 200, () => sandbox.redeliver(req.params.id));
  });

  router.get('/deliveries', (_req, res) => {
    res.json({ deliveries: sandbox.state().deliveries });
  });

  router.put('/webhook', (req, res) => {
    const parsed = webhookTargetBody.safeParse(req.body);
    if (!parsed.success) return sendError(res, 400, 'body must be { "url": <URL> | null }', fieldErrors(parsed.error));
    sandbox.setWebhookUrl(parsed.data.url ?? undefined);
    res.status(204).end();
  });
}
