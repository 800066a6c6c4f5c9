import { formatInOffset, offsetOf } from '../../domain/time.js';
import type { RejectReason } from '../../domain/reasons.js';
import type { ActivityListing, SessionListing } from '../../domain/listing.js';
import { AggregatorHttpError } from '../http.js';
import type {
  AdapterCapabilities,
  AggregatorAdapter,
  AggregatorEvent,
  BookingRef,
  ConnectionContext,
  HeldSession,
  SessionCounts,
  SessionRef,
  WebhookRequest,
  WebhookVerification,
} from '../types.js';
import { WellhubClient, validateRequest, type SlotPath, type WellhubClientOptions } from './client.js';
import { readSettings, toClassBody, toSlotBody } from './mapping.js';
import {
  WELLHUB_REASON_DESCRIPTIONS,
  classUpdateRequestSchema,
  parseWellhubDate,
  toWellhubReasonCategory,
  type WellhubBookingPatchV1,
  type WellhubCategoriesResponse,
  type WellhubClass,
  type WellhubLocale,
  type WellhubProductsResponse,
  type WellhubSlot,
  type WellhubSlotBody,
  type WellhubSlotResults,
} from './schemas.js';
import { WELLHUB_SIGNATURE_HEADER, parseWellhubWebhook, verifyWellhubSignature, wellhubWebhookVenueId } from './webhook.js';

/**
 * Wellhub's production Booking API. The reference only names it {{booking-api-url}}; this host is the one Wellhub
 * gives partners for production and must be confirmed during certification. Connections override it.
 */
export const WELLHUB_PRODUCTION_BASE_URL = 'https://api.partners.gympass.com';

/** Wellhub rejects a booking request on its own when it has no answer within 15 minutes. */
export const WELLHUB_BOOKING_DEADLINE_MS = 15 * 60_000;

export type WellhubAdapterOptions = WellhubClientOptions;

const slotOf = (ref: SessionRef): SlotPath => ({ classId: ref.activityExternalId, slotId: ref.sessionExternalId });

/** Our activities, sessions and bookings as Wellhub classes, slots and bookings. */
export class WellhubAdapter implements AggregatorAdapter {
  readonly aggregator = 'wellhub' as const;
  readonly capabilities: AdapterCapabilities = {
    // Wellhub cancels a slot's bookings when it is deleted, but the contract wants each booking answered
    // CANCELLED_BY_GYM first, so the generic fan-out does it booking by booking and then deletes the slot.
    cancelsWholeSessions: false,
    answersBookingsSynchronously: false,
    bookingDeadlineMs: WELLHUB_BOOKING_DEADLINE_MS,
  };
  readonly defaultBaseUrl = WELLHUB_PRODUCTION_BASE_URL;
  /** Every endpoint of the contract in Wellhub's vocabulary. */
  readonly client: WellhubClient;
  private readonly now: () => number;

  constructor(options: WellhubAdapterOptions = {}) {
    this.client = new WellhubClient(options);
    this.now = options.now ?? Date.now;
  }

  /**
   * Creates the class, or updates it when one with our activity id as reference exists already: a retry after a
   * create whose answer was lost must not leave two classes (Wellhub has no uniqueness on classes and no delete).
   */
  async pushActivity(ctx: ConnectionContext, activity: ActivityListing): Promise<{ externalId: string }> {
    const body = validateRequest('pushActivity', classUpdateRequestSchema, toClassBody(activity, readSettings('pushActivity', ctx.settings)));
    const existing = (await this.client.listClasses(ctx)).find((cls) => cls.reference === activity.activityId);
    if (existing) {
      await this.client.updateClass(ctx, String(existing.id), body);
      return { externalId: String(existing.id) };
    }
    const created = await this.client.createClasses(ctx, { classes: [body] });
    const cls = created.classes[0];
    if (cls === undefined) {
      throw new AggregatorHttpError('wellhub', 'createClasses', undefined, false, 'answer holds no class', undefined, created);
    }
    return { externalId: String(cls.id) };
  }

  async updateActivity(ctx: ConnectionContext, externalId: string, activity: ActivityListing): Promise<void> {
    await this.client.updateClass(ctx, externalId, toClassBody(activity, readSettings('updateActivity', ctx.settings)));
  }

  /** Classes cannot be deleted at Wellhub: hidden and made unbookable instead. */
  async hideActivity(ctx: ConnectionContext, externalId: string, activity: ActivityListing): Promise<void> {
    const body = toClassBody(activity, readSettings('hideActivity', ctx.settings));
    await this.client.updateClass(ctx, externalId, { ...body, visible: false, bookable: false });
  }

  /**
   * One slot per POST. Wellhub answers 409 for a slot with the same class, occur_date and room; after a create whose
   * answer was lost that slot is ours, so its id is looked up instead of failing the retry forever.
   */
  async createSession(ctx: ConnectionContext, activityExternalId: string, session: SessionListing): Promise<{ externalId: string }> {
    const body = toSlotBody(session, readSettings('createSession', ctx.settings), this.now());
    try {
      const slot = await this.client.createSlot(ctx, activityExternalId, body);
      return { externalId: String(slot.id) };
    } catch (error) {
      if (!(error instanceof AggregatorHttpError) || error.status !== 409) throw error;
      const existing = await this.findSlot(ctx, activityExternalId, body);
      if (!existing) throw error;
      return { externalId: String(existing.id) };
    }
  }

  async updateSession(ctx: ConnectionContext, ref: SessionRef, session: SessionListing): Promise<void> {
    const body = toSlotBody(session, readSettings('updateSession', ctx.settings), this.now());
    await this.client.putSlot(ctx, slotOf(ref), body);
  }

  async patchSessionCounts(ctx: ConnectionContext, ref: SessionRef, counts: SessionCounts): Promise<void> {
    await this.client.patchSlot(ctx, slotOf(ref), {
      ...(counts.totalCapacity !== undefined ? { total_capacity: counts.totalCapacity } : {}),
      ...(counts.totalBooked !== undefined ? { total_booked: counts.totalBooked } : {}),
    });
  }

  /** A 404 means the slot is gone already (typically a retry of a delete whose answer was lost): done. */
  async deleteSession(ctx: ConnectionContext, ref: SessionRef): Promise<void> {
    try {
      await this.client.deleteSlot(ctx, slotOf(ref));
    } catch (error) {
      if (error instanceof AggregatorHttpError && error.status === 404) return;
      throw error;
    }
  }

  async listSessions(ctx: ConnectionContext, activityExternalId: string, range: { from: string; to: string }): Promise<HeldSession[]> {
    const { results } = await this.client.listSlots(ctx, activityExternalId, range);
    return results.map((slot) => ({
      externalId: String(slot.id),
      startsAt: new Date(parseWellhubDate(slot.occur_date)).toISOString(),
      durationMinutes: slot.length_in_minutes ?? 0,
      room: slot.room ?? null,
      totalCapacity: slot.total_capacity,
      totalBooked: slot.total_booked,
    }));
  }

  /** Wellhub has no cancelled state for slots and no field for the reason: the slot is deleted. */
  async cancelSession(ctx: ConnectionContext, ref: SessionRef, _reason?: string): Promise<void> {
    await this.deleteSession(ctx, ref);
  }

  async confirmBooking(ctx: ConnectionContext, booking: BookingRef): Promise<void> {
    await this.client.patchBooking(ctx, booking.bookingNumber, { status: 'RESERVED' });
  }

  async rejectBooking(ctx: ConnectionContext, booking: BookingRef, reason: RejectReason, message?: string): Promise<void> {
    const category = toWellhubReasonCategory(reason);
    await this.client.patchBooking(ctx, booking.bookingNumber, {
      status: 'REJECTED',
      reason: message ?? WELLHUB_REASON_DESCRIPTIONS[category],
      reason_category: category,
    });
  }

  async cancelBookingByGym(ctx: ConnectionContext, booking: BookingRef, message?: string): Promise<void> {
    await this.client.patchBooking(ctx, booking.bookingNumber, {
      status: 'CANCELLED_BY_GYM',
      ...(message !== undefined ? { reason: message } : {}),
    });
  }

  verifyWebhook(request: WebhookRequest, secret: string, _now?: Date): WebhookVerification {
    return verifyWellhubSignature(request.rawBody, request.headers[WELLHUB_SIGNATURE_HEADER], secret);
  }

  parseWebhook(request: WebhookRequest): AggregatorEvent {
    return parseWellhubWebhook(request.rawBody);
  }

  webhookVenueId(request: WebhookRequest): string | undefined {
    return wellhubWebhookVenueId(request.rawBody);
  }

  async health(ctx: ConnectionContext): Promise<void> {
    await this.client.health(ctx);
  }

  // The rest of the contract, for setup screens, diagnostics and reconciliation.

  listClasses(ctx: ConnectionContext): Promise<WellhubClass[]> {
    return this.client.listClasses(ctx);
  }

  getClass(ctx: ConnectionContext, classId: string, options: { showDeleted?: boolean } = {}): Promise<WellhubClass> {
    return this.client.getClass(ctx, classId, options);
  }

  listSlots(ctx: ConnectionContext, classId: string, range: { from?: string; to?: string } = {}): Promise<WellhubSlotResults> {
    return this.client.listSlots(ctx, classId, range);
  }

  getSlot(ctx: ConnectionContext, ref: SessionRef): Promise<WellhubSlot> {
    return this.client.getSlot(ctx, slotOf(ref));
  }

  putSlot(ctx: ConnectionContext, ref: SessionRef, body: WellhubSlotBody): Promise<WellhubSlot> {
    return this.client.putSlot(ctx, slotOf(ref), body);
  }

  listProducts(ctx: ConnectionContext): Promise<WellhubProductsResponse> {
    return this.client.listProducts(ctx);
  }

  listCategories(ctx: ConnectionContext, locale: WellhubLocale): Promise<WellhubCategoriesResponse> {
    return this.client.listCategories(ctx, locale);
  }

  patchBookingV1(ctx: ConnectionContext, bookingNumber: string, body: WellhubBookingPatchV1): Promise<void> {
    return this.client.patchBookingV1(ctx, bookingNumber, body);
  }

  private async findSlot(ctx: ConnectionContext, classId: string, body: WellhubSlotBody): Promise<WellhubSlot | undefined> {
    const at = Date.parse(body.occur_date);
    const offset = offsetOf(body.occur_date);
    // A minute either side: whether Wellhub's range bounds are inclusive is not documented.
    const { results } = await this.client.listSlots(ctx, classId, {
      from: formatInOffset(new Date(at - 60_000), offset),
      to: formatInOffset(new Date(at + 60_000), offset),
    });
    return results.find((slot) => parseWellhubDate(slot.occur_date) === at && (slot.room ?? undefined) === body.room);
  }
}

