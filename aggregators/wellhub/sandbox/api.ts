import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import { sendError, type SandboxClock } from '../../sandbox-kit/index.js';
import type { BookingFlow } from './booking-flow.js';
import { listRange } from './slot-range.js';
import { slotView, type SandboxClass, type SandboxSlot, type SandboxStore } from './store.js';
import {
  WELLHUB_V1_STATUSES,
  bookingPatchV1Schema,
  bookingPatchV2Schema,
  classCreateRequestSchema,
  classUpdateRequestSchema,
  localeSchema,
  showDeletedQuerySchema,
  slotBodySchema,
  slotListQuerySchema,
  slotPatchSchema,
  toFieldIssues,
  type WellhubSlotBody,
} from '../schemas.js';

export interface WellhubApiDeps {
  store: SandboxStore;
  flow: BookingFlow;
  clock: SandboxClock;
}

type Gym = NonNullable<ReturnType<SandboxStore['gym']>>;

/** Wellhub's Booking API as the sandbox serves it: same paths, validations and status codes as the reference. */
export function createWellhubApiRouter({ store, flow, clock }: WellhubApiDeps): Router {
  const router = Router();

  /**
   * 401 without a Bearer token or with one Wellhub never issued; 404 for a gym that does not exist (asked with a
   * real token); 401 again for another gym's token, since that token grants nothing on this gym.
   */
  function authorize(req: Request, res: Response, gymId?: string): Gym | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!match?.[1]) {
      sendError(res, 401, 'missing Bearer token');
      return undefined;
    }
    const owner = store.gymByToken(match[1]);
    if (!owner) {
      sendError(res, 401, 'invalid token');
      return undefined;
    }
    if (gymId === undefined) return owner;
    const gym = store.gym(gymId);
    if (!gym) {
      sendError(res, 404, `gym ${gymId} not found`);
      return undefined;
    }
    if (gym.token !== owner.token) {
      sendError(res, 401, `token not valid for gym ${gymId}`);
      return undefined;
    }
    return gym;
  }

  function parse<S extends z.ZodType>(res: Response, schema: S, value: unknown): z.output<S> | undefined {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    sendError(res, 400, 'invalid request', toFieldIssues(parsed.error));
    return undefined;
  }

  function findClass(res: Response, gym: Gym, classId: string, includeDeleted = false): SandboxClass | undefined {
    const cls = store.classOf(gym.id, classId, includeDeleted);
    if (!cls) sendError(res, 404, `class ${classId} not found`);
    return cls;
  }

  function findSlot(res: Response, cls: SandboxClass, slotId: string): SandboxSlot | undefined {
    const slot = store.slotOf(cls, slotId);
    if (!slot) sendError(res, 404, `slot ${slotId} not found`);
    return slot;
  }

  const product = (gym: Gym, productId: number) => gym.products.find((p) => p.product_id === productId);
  const param = (req: Request, name: string) => String(req.params[name]);

  router.get('/booking/v1/health', (req, res) => {
    if (!authorize(req, res)) return;
    res.type('text/plain').send('ok');
  });

  router.post('/booking/v1/gyms/:gym_id/classes', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const body = parse(res, classCreateRequestSchema, req.body);
    if (!body) return;
    const unknown = body.classes.findIndex((cls) => !product(gym, cls.product_id));
    if (unknown >= 0) {
      const productId = body.classes[unknown]?.product_id;
      return sendError(res, 422, `classes.${unknown}.product_id: product ${productId} does not exist for gym ${gym.id}`);
    }
    const created = body.classes.map((cls) =>
      store.addClass({ ...cls, gym_id: gym.id, categories: cls.categories ?? [], created_at: clock.now() }),
    );
    res.status(201).json({
      classes: created.map((cls) => ({
        id: cls.id,
        name: cls.name,
        reference: cls.reference,
        links: [{ rel: 'self', href: `gyms/${gym.id}/classes/${cls.id}` }],
      })),
    });
  });

  router.get('/booking/v1/gyms/:gym_id/classes', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const classes = [...store.classes.values()].filter((cls) => cls.gym_id === gym.id && !cls.deleted);
    res.json({ classes: classes.map((cls) => store.classView(cls)) });
  });

  router.get('/booking/v1/gyms/:gym_id/classes/:class_id', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const flag = req.query['show-deleted'];
    if (flag !== undefined && !showDeletedQuerySchema.safeParse(flag).success) {
      return sendError(res, 400, 'invalid request', [{ field: 'show-deleted', message: 'must be true or false' }]);
    }
    const cls = findClass(res, gym, param(req, 'class_id'), flag === 'true');
    if (!cls) return;
    res.json(store.classView(cls));
  });

  router.put('/booking/v1/gyms/:gym_id/classes/:class_id', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const cls = findClass(res, gym, param(req, 'class_id'));
    if (!cls) return;
    const body = parse(res, classUpdateRequestSchema, req.body);
    if (!body) return;
    if (!product(gym, body.product_id)) return sendError(res, 422, `product ${body.product_id} does not exist for gym ${gym.id}`);
    Object.assign(cls, { ...body, notes: body.notes, reference: body.reference, categories: body.categories ?? [] });
    res.status(200).end();
  });

  /** 422 for a product the gym does not have, or (on create) a virtual slot on a non-virtual product. */
  function productProblem(gym: Gym, body: WellhubSlotBody, creating: boolean): string | undefined {
    const found = product(gym, body.product_id);
    if (!found) return `product ${body.product_id} does not exist for gym ${gym.id}`;
    if (creating && body.virtual === true && !found.virtual) {
      return `product ${body.product_id} is not virtual: a virtual slot needs a virtual product`;
    }
    return undefined;
  }

  router.post('/booking/v1/gyms/:gym_id/classes/:class_id/slots', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const cls = findClass(res, gym, param(req, 'class_id'));
    if (!cls) return;
    const body = parse(res, slotBodySchema(clock.now()), req.body);
    if (!body) return;
    const problem = productProblem(gym, body, true);
    if (problem) return sendError(res, 422, problem);
    const at = Date.parse(body.occur_date);
    const duplicate = [...store.slots.values()].find(
      (slot) => slot.class_id === cls.id && !slot.deleted && Date.parse(slot.occur_date) === at && slot.room === body.room,
    );
    if (duplicate) return sendError(res, 409, `slot ${duplicate.id} exists already for this class, occur_date and room`);
    const slot = store.addSlot({ ...body, status: body.status ?? 1, gym_id: gym.id, class_id: cls.id });
    res.status(201).json({ metadata: { total: 1, errors: 0 }, results: [slotView(slot)] });
  });

  router.get('/booking/v1/gyms/:gym_id/classes/:class_id/slots', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const cls = findClass(res, gym, param(req, 'class_id'));
    if (!cls) return;
    const query = parse(res, slotListQuerySchema, req.query);
    if (!query) return;
    const [from, to] = listRange(query.from, query.to, clock.now());
    const slots = [...store.slots.values()]
      .filter((slot) => slot.class_id === cls.id && !slot.deleted)
      .filter((slot) => Date.parse(slot.occur_date) >= from && Date.parse(slot.occur_date) <= to)
      .sort((a, b) => Date.parse(a.occur_date) - Date.parse(b.occur_date));
    res.json({
      metadata: { page: 1, page_size: 1000, total_elements: slots.length, total: slots.length, errors: 0 },
      results: slots.map((slot) => slotView(slot, true)),
    });
  });

  router.get('/booking/v1/gyms/:gym_id/classes/:class_id/slots/:slot_id', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    const cls = gym && findClass(res, gym, param(req, 'class_id'));
    const slot = cls && findSlot(res, cls, param(req, 'slot_id'));
    if (!slot) return;
    res.json(slotView(slot));
  });

  router.patch('/booking/v1/gyms/:gym_id/classes/:class_id/slots/:slot_id', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    const cls = gym && findClass(res, gym, param(req, 'class_id'));
    const slot = cls && findSlot(res, cls, param(req, 'slot_id'));
    if (!slot) return;
    const body = parse(res, slotPatchSchema, req.body);
    if (!body) return;
    const capacity = body.total_capacity ?? slot.total_capacity;
    const booked = body.total_booked ?? slot.total_booked;
    if (booked > capacity) {
      return sendError(res, 400, 'invalid request', [
        { field: 'total_booked', message: `must be less than or equal to total_capacity (${booked} > ${capacity})` },
      ]);
    }
    Object.assign(slot, { total_capacity: capacity, total_booked: booked });
    if (body.virtual_class_url !== undefined) slot.virtual_class_url = body.virtual_class_url;
    res.status(204).end();
  });

  router.put('/booking/v1/gyms/:gym_id/classes/:class_id/slots/:slot_id', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    const cls = gym && findClass(res, gym, param(req, 'class_id'));
    const slot = cls && findSlot(res, cls, param(req, 'slot_id'));
    if (!gym || !slot) return;
    const body = parse(res, slotBodySchema(clock.now()), req.body);
    if (!body) return;
    const problem = productProblem(gym, body, false);
    if (problem) return sendError(res, 422, problem);
    // PUT replaces the slot: optional fields not sent are cleared.
    const replaced: SandboxSlot = {
      ...body,
      status: body.status ?? 1,
      id: slot.id,
      gym_id: slot.gym_id,
      class_id: slot.class_id,
      deleted: false,
    };
    store.slots.set(slot.id, replaced);
    res.status(200).json({ metadata: { total: 1, errors: 0 }, results: [slotView(replaced)] });
  });

  router.delete('/booking/v1/gyms/:gym_id/classes/:class_id/slots/:slot_id', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    const cls = gym && findClass(res, gym, param(req, 'class_id'));
    const slot = cls && findSlot(res, cls, param(req, 'slot_id'));
    if (!slot) return;
    slot.deleted = true;
    flow.slotDeleted(slot.id);
    res.status(204).end();
  });

  router.get('/booking/v1/gyms/:gym_id/categories', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const locale = req.query.locale;
    const parsed = localeSchema.safeParse(locale);
    if (!parsed.success) {
      const message = `must be one of the allowed locales, got ${JSON.stringify(locale ?? null)}`;
      return sendError(res, 400, 'invalid request', [{ field: 'locale', message }]);
    }
    const results = store.categories
      .filter((category) => category.locale === parsed.data)
      .map((c) => ({ id: c.id, name: c.name, locale: c.locale }));
    res.json({ metadata: { total: results.length, errors: 0 }, results });
  });

  router.get('/setup/v1/gyms/:gym_id/products', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    res.json({ gym_id: gym.id, products: gym.products.map((p) => ({ ...p, updated_at: p.updated_at ?? null })) });
  });

  router.patch('/booking/v2/gyms/:gym_id/bookings/:booking_number', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const body = parse(res, bookingPatchV2Schema, req.body);
    if (!body) return;
    const outcome = flow.answer(gym.id, param(req, 'booking_number'), {
      status: body.status,
      reason: body.reason,
      reasonCategory: body.reason_category,
    });
    if (outcome.status !== 204) return sendError(res, outcome.status, outcome.message);
    res.status(204).end();
  });

  router.patch('/booking/v1/gyms/:gym_id/bookings/:booking_number', (req, res) => {
    const gym = authorize(req, res, param(req, 'gym_id'));
    if (!gym) return;
    const body = parse(res, bookingPatchV1Schema, req.body);
    if (!body) return;
    const outcome = flow.answer(
      gym.id,
      param(req, 'booking_number'),
      { status: WELLHUB_V1_STATUSES[body.status], reason: body.reason },
      body.class_id,
    );
    if (outcome.status !== 204) return sendError(res, outcome.status, outcome.message);
    res.status(204).end();
  });

  return router;
}
