import type { z } from 'zod';
import { AggregatorHttpError, JsonHttpClient, type HttpRequest } from '../http.js';
import type { ConnectionContext } from '../types.js';
import { WellhubRequestInvalidError, formatIssues } from './errors.js';
import {
  bookingPatchV1Schema,
  bookingPatchV2Schema,
  categoriesResponseSchema,
  classCreateRequestSchema,
  classCreateResponseSchema,
  classListResponseSchema,
  classSchema,
  classUpdateRequestSchema,
  healthResponseSchema,
  localeSchema,
  productsResponseSchema,
  requestDateTime,
  slotBodySchema,
  slotPatchSchema,
  slotResultsResponseSchema,
  slotSchema,
  toFieldIssues,
  type WellhubBookingPatchV1,
  type WellhubBookingPatchV2,
  type WellhubCategoriesResponse,
  type WellhubClass,
  type WellhubClassCreateRequest,
  type WellhubClassCreateResponse,
  type WellhubClassUpdateRequest,
  type WellhubLocale,
  type WellhubProductsResponse,
  type WellhubSlot,
  type WellhubSlotBody,
  type WellhubSlotPatch,
  type WellhubSlotResults,
} from './schemas.js';

export interface WellhubClientOptions {
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  /** The time "in the future" and "60 days" are judged against (tests pin it). */
  now?: () => number;
}

export interface SlotPath {
  classId: string;
  slotId: string;
}

const seg = encodeURIComponent;

/**
 * Wellhub's Booking API, one method per endpoint, in Wellhub's vocabulary. Every body is validated against the
 * documented rules before it is sent, and every answer parsed; ctx.externalVenueId is the gym_id and
 * ctx.credentials.apiToken the Bearer token.
 */
export class WellhubClient {
  private readonly now: () => number;

  constructor(private readonly options: WellhubClientOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  async createClasses(ctx: ConnectionContext, body: WellhubClassCreateRequest): Promise<WellhubClassCreateResponse> {
    const operation = 'createClasses';
    const valid = validateRequest(operation, classCreateRequestSchema, body);
    return this.send(ctx, { method: 'POST', path: `${gym(ctx)}/classes`, body: valid, operation }, classCreateResponseSchema);
  }

  async listClasses(ctx: ConnectionContext): Promise<WellhubClass[]> {
    const operation = 'listClasses';
    const answer = await this.send(ctx, { method: 'GET', path: `${gym(ctx)}/classes`, operation }, classListResponseSchema);
    return answer.classes;
  }

  async getClass(ctx: ConnectionContext, classId: string, options: { showDeleted?: boolean } = {}): Promise<WellhubClass> {
    const operation = 'getClass';
    const path = `${gym(ctx)}/classes/${seg(classId)}?show-deleted=${options.showDeleted === true ? 'true' : 'false'}`;
    return this.send(ctx, { method: 'GET', path, operation }, classSchema);
  }

  async updateClass(ctx: ConnectionContext, classId: string, body: WellhubClassUpdateRequest): Promise<void> {
    const operation = 'updateClass';
    const valid = validateRequest(operation, classUpdateRequestSchema, body);
    await this.send(ctx, { method: 'PUT', path: `${gym(ctx)}/classes/${seg(classId)}`, body: valid, operation });
  }

  async createSlot(ctx: ConnectionContext, classId: string, body: WellhubSlotBody): Promise<WellhubSlot> {
    const operation = 'createSlot';
    const valid = validateRequest(operation, slotBodySchema(this.now()), body);
    const answer = await this.send(
      ctx,
      { method: 'POST', path: `${gym(ctx)}/classes/${seg(classId)}/slots`, body: valid, operation },
      slotResultsResponseSchema,
    );
    return single(operation, answer);
  }

  /** Slots of a class between from and to (ISO 8601 with offset); without them Wellhub answers the current day. */
  async listSlots(ctx: ConnectionContext, classId: string, range: { from?: string; to?: string } = {}): Promise<WellhubSlotResults> {
    const operation = 'listSlots';
    const query = new URLSearchParams();
    for (const key of ['from', 'to'] as const) {
      const value = range[key];
      if (value === undefined) continue;
      if (!requestDateTime.safeParse(value).success) {
        throw new WellhubRequestInvalidError(operation, [{ field: key, message: 'must be an ISO 8601 date-time with an offset' }]);
      }
      query.set(key, value);
    }
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    return this.send(
      ctx,
      { method: 'GET', path: `${gym(ctx)}/classes/${seg(classId)}/slots${suffix}`, operation },
      slotResultsResponseSchema,
    );
  }

  async getSlot(ctx: ConnectionContext, ref: SlotPath): Promise<WellhubSlot> {
    return this.send(ctx, { method: 'GET', path: slotPath(ctx, ref), operation: 'getSlot' }, slotSchema);
  }

  async putSlot(ctx: ConnectionContext, ref: SlotPath, body: WellhubSlotBody): Promise<WellhubSlot> {
    const operation = 'putSlot';
    const valid = validateRequest(operation, slotBodySchema(this.now()), body);
    const answer = await this.send(ctx, { method: 'PUT', path: slotPath(ctx, ref), body: valid, operation }, slotResultsResponseSchema);
    return single(operation, answer);
  }

  async patchSlot(ctx: ConnectionContext, ref: SlotPath, body: WellhubSlotPatch): Promise<void> {
    const operation = 'patchSlot';
    const valid = validateRequest(operation, slotPatchSchema, body);
    await this.send(ctx, { method: 'PATCH', path: slotPath(ctx, ref), body: valid, operation });
  }

  async deleteSlot(ctx: ConnectionContext, ref: SlotPath): Promise<void> {
    await this.send(ctx, { method: 'DELETE', path: slotPath(ctx, ref), operation: 'deleteSlot' });
  }

  async listProducts(ctx: ConnectionContext): Promise<WellhubProductsResponse> {
    const path = `/setup/v1/gyms/${seg(ctx.externalVenueId)}/products`;
    return this.send(ctx, { method: 'GET', path, operation: 'listProducts' }, productsResponseSchema);
  }

  async listCategories(ctx: ConnectionContext, locale: WellhubLocale): Promise<WellhubCategoriesResponse> {
    const operation = 'listCategories';
    validateRequest(operation, localeSchema, locale, 'locale');
    const path = `${gym(ctx)}/categories?locale=${seg(locale)}`;
    return this.send(ctx, { method: 'GET', path, operation }, categoriesResponseSchema);
  }

  async patchBooking(ctx: ConnectionContext, bookingNumber: string, body: WellhubBookingPatchV2): Promise<void> {
    const operation = 'patchBooking';
    const valid = validateRequest(operation, bookingPatchV2Schema, body);
    const path = `/booking/v2/gyms/${seg(ctx.externalVenueId)}/bookings/${seg(bookingNumber)}`;
    await this.send(ctx, { method: 'PATCH', path, body: valid, operation });
  }

  /** The deprecated v1 booking answer (numeric status and the class id); v2 is what the adapter uses. */
  async patchBookingV1(ctx: ConnectionContext, bookingNumber: string, body: WellhubBookingPatchV1): Promise<void> {
    const operation = 'patchBookingV1';
    const valid = validateRequest(operation, bookingPatchV1Schema, body);
    const path = `${gym(ctx)}/bookings/${seg(bookingNumber)}`;
    await this.send(ctx, { method: 'PATCH', path, body: valid, operation });
  }

  async health(ctx: ConnectionContext): Promise<void> {
    await this.send(ctx, { method: 'GET', path: '/booking/v1/health', operation: 'health' }, healthResponseSchema);
  }

  private async send(ctx: ConnectionContext, req: HttpRequest): Promise<void>;
  private async send<S extends z.ZodType>(ctx: ConnectionContext, req: HttpRequest, schema: S): Promise<z.output<S>>;
  private async send<S extends z.ZodType>(ctx: ConnectionContext, req: HttpRequest, schema?: S): Promise<z.output<S> | void> {
    const token = ctx.credentials.apiToken;
    if (token === undefined || token === '') {
      throw new WellhubRequestInvalidError(req.operation, [{ field: 'credentials.apiToken', message: 'the connection has no API token' }]);
    }
    const http = new JsonHttpClient({
      aggregator: 'wellhub',
      baseUrl: ctx.baseUrl,
      headers: { authorization: `Bearer ${token}` },
      ...(this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {}),
      ...(this.options.fetchImpl !== undefined ? { fetchImpl: this.options.fetchImpl } : {}),
    });
    const response = await http.request(req);
    if (!schema) return;
    const parsed = schema.safeParse(response.body);
    if (!parsed.success) {
      // Retrying cannot change what Wellhub answers; the caller must see the contract drift, not loop on it.
      throw new AggregatorHttpError(
        'wellhub',
        req.operation,
        response.status,
        false,
        `unexpected answer: ${formatIssues(toFieldIssues(parsed.error))}`,
        undefined,
        response.body,
      );
    }
    return parsed.data;
  }
}

function gym(ctx: ConnectionContext): string {
  return `/booking/v1/gyms/${seg(ctx.externalVenueId)}`;
}

function slotPath(ctx: ConnectionContext, ref: SlotPath): string {
  return `${gym(ctx)}/classes/${seg(ref.classId)}/slots/${seg(ref.slotId)}`;
}

/** Parses a request body against its schema, or throws WellhubRequestInvalidError naming every failing field. */
export function validateRequest<S extends z.ZodType>(operation: string, schema: S, value: unknown, field?: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = toFieldIssues(parsed.error).map((issue) => (field !== undefined && issue.field === '(body)' ? { ...issue, field } : issue));
  throw new WellhubRequestInvalidError(operation, issues);
}

function single(operation: string, answer: WellhubSlotResults): WellhubSlot {
  const slot = answer.results[0];
  if (slot === undefined) throw new AggregatorHttpError('wellhub', operation, undefined, false, 'answer holds no slot', undefined, answer);
  return slot;
}
