import { WellhubAdapter, type WellhubAdapterOptions } from './adapter.js';

/** The Wellhub adapter; options are for tests and tuning (per-request timeout, fetch, clock). */
export function createWellhubAdapter(options: WellhubAdapterOptions = {}): WellhubAdapter {
  return new WellhubAdapter(options);
}

export { WellhubAdapter, WELLHUB_BOOKING_DEADLINE_MS, WELLHUB_PRODUCTION_BASE_URL, type WellhubAdapterOptions } from './adapter.js';
export { WellhubClient, type SlotPath, type WellhubClientOptions } from './client.js';
export { WellhubRequestInvalidError } from './errors.js';
export { readSettings, toClassBody, toSlotBody, wellhubSettingsSchema, type WellhubSettings } from './mapping.js';
export { signWellhubBody, verifyWellhubSignature, parseWellhubWebhook, wellhubWebhookVenueId, WELLHUB_SIGNATURE_HEADER } from './webhook.js';
export * from './schemas.js';
