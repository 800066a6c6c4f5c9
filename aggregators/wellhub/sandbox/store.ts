import { randomInt } from 'node:crypto';
import { formatZonedUtc, type WellhubLocale, type WellhubSlotBody } from '../schemas.js';

export interface SandboxProductSeed {
  product_id: number;
  name: string;
  virtual: boolean;
  updated_at?: string;
}

export interface SandboxGymSeed {
  id: number;
  /** The Bearer token Wellhub issued for this gym. */
  token: string;
  /** The secret webhooks about this gym are signed with. */
  webhookSecret: string;
  /** Where this gym's webhooks go; default the sandbox-wide webhookUrl. */
  webhookUrl?: string;
  products: SandboxProductSeed[];
}

export interface SandboxCategorySeed {
  id: number;
  name: string;
  locale: WellhubLocale;
}

export const DEFAULT_SANDBOX_GYMS: readonly SandboxGymSeed[] = [
  {
    id: 1,
    token: 'wellhub-sandbox-token',
    webhookSecret: 'wellhub-sandbox-secret',
    products: [
      { product_id: 1, name: 'Yoga', virtual: false, updated_at: '2024-01-10T14:33:48.819005Z' },
      { product_id: 2, name: 'Live online classes', virtual: true, updated_at: '2024-01-10T14:33:48.819005Z' },
    ],
  },
];

export const DEFAULT_SANDBOX_CATEGORIES: readonly SandboxCategorySeed[] = [
  { id: 1, name: 'Meditation', locale: 'en' },
  { id: 1, name: 'Meditation', locale: 'de' },
  { id: 2, name: 'Yoga', locale: 'en' },
  { id: 2, name: 'Yoga', locale: 'de' },
  { id: 3, name: 'Pilates', locale: 'en' },
  { id: 3, name: 'Pilates', locale: 'pt' },
  { id: 2, name: 'Ioga', locale: 'pt' },
];

export interface SandboxClass {
  id: number;
  gym_id: number;
  name: string;
  slug: string;
  description: string;
  notes?: string | undefined;
  bookable: boolean;
  visible: boolean;
  product_id: number;
  reference?: string | undefined;
  system_id?: number | undefined;
  categories: number[];
  created_at: number;
  /** Classes are deleted only by Wellhub (the sandbox control API simulates it); GET shows them with show-deleted. */
  deleted: boolean;
}

export interface SandboxSlot extends WellhubSlotBody {
  id: number;
  gym_id: number;
  class_id: number;
  deleted: boolean;
}

/** A member's booking as Wellhub holds it. PENDING = requested, waiting for the gym's answer. */
export type SandboxBookingState =
  | 'PENDING'
  | 'RESERVED'
  | 'REJECTED'
  | 'CANCELLED_BY_GYM'
  | 'CANCELLED_BY_USER'
  | 'LATE_CANCELLED'
  | 'CHECKED_IN';

export interface SandboxBookingUser {
  unique_token: string;
  name: string;
  email: string;
}

export interface SandboxBooking {
  booking_number: string;
  gym_id: number;
  class_id: number;
  slot_id: number;
  user: SandboxBookingUser;
  state: SandboxBookingState;
  /** Rejected by Wellhub itself because no answer came within the deadline. */
  auto_rejected: boolean;
  reason?: string | undefined;
  reason_category?: string | undefined;
  requested_at: number;
  deadline_at: number;
  history: { state: SandboxBookingState; at: number; by: 'member' | 'gym' | 'wellhub' }[];
}

interface GymRecord extends SandboxGymSeed {
  webhookUrl?: string;
}

/** The sandbox's data: gyms and their catalogue as seeded, and what the partner and members did since. */
export class SandboxStore {
  readonly gyms = new Map<string, GymRecord>();
  readonly classes = new Map<number, SandboxClass>();
  readonly slots = new Map<number, SandboxSlot>();
  readonly bookings = new Map<string, SandboxBooking>();
  private nextClassId = 1;
  private nextSlotId = 1;
  /** Each sandbox starts its numbers at a random point, so several sandboxes feeding one ledger never collide. */
  private nextBookingNumber = randomInt(1, 90_000_000);

  constructor(
    private readonly gymSeeds: readonly SandboxGymSeed[],
    readonly categories: readonly SandboxCategorySeed[],
  ) {
    this.reset();
  }

  reset(): void {
    this.gyms.clear();
    for (const seed of this.gymSeeds) this.gyms.set(String(seed.id), { ...seed, products: seed.products.map((p) => ({ ...p })) });
    this.classes.clear();
    this.slots.clear();
    this.bookings.clear();
    this.nextClassId = 1;
    this.nextSlotId = 1;
    this.nextBookingNumber = randomInt(1, 90_000_000);
  }

  gym(id: string): GymRecord | undefined {
    return this.gyms.get(id);
  }

  gymByToken(token: string): GymRecord | undefined {
    return [...this.gyms.values()].find((gym) => gym.token === token);
  }

  /** A live (not deleted) class of the gym, unless includeDeleted. */
  classOf(gymId: number, classId: string, includeDeleted = false): SandboxClass | undefined {
    if (!/^\d+$/.test(classId)) return undefined;
    const cls = this.classes.get(Number(classId));
    if (!cls || cls.gym_id !== gymId || (cls.deleted && !includeDeleted)) return undefined;
    return cls;
  }

  slotOf(cls: SandboxClass, slotId: string): SandboxSlot | undefined {
    if (!/^\d+$/.test(slotId)) return undefined;
    const slot = this.slots.get(Number(slotId));
    if (!slot || slot.class_id !== cls.id || slot.deleted) return undefined;
    return slot;
  }

  addClass(fields: Omit<SandboxClass, 'id' | 'slug' | 'deleted'>): SandboxClass {
    const cls: SandboxClass = { ...fields, id: this.nextClassId++, slug: slugOf(fields.name), deleted: false };
    this.classes.set(cls.id, cls);
    return cls;
  }

  addSlot(fields: Omit<SandboxSlot, 'id' | 'deleted'>): SandboxSlot {
    const slot: SandboxSlot = { ...fields, id: this.nextSlotId++, deleted: false };
    this.slots.set(slot.id, slot);
    return slot;
  }

  newBookingNumber(): string {
    // Wellhub's booking numbers are opaque strings; digits like theirs, but never mistaken for slot or class ids.
    return String(900_000_000 + this.nextBookingNumber++);
  }

  categoryView(id: number) {
    const matches = this.categories.filter((category) => category.id === id);
    const category = matches.find((c) => c.locale === 'en') ?? matches[0];
    return category ? { id: category.id, name: category.name, locale: category.locale } : { id, name: `Category ${id}`, locale: 'en' };
  }

  classView(cls: SandboxClass) {
    return {
      id: cls.id,
      name: cls.name,
      slug: cls.slug,
      description: cls.description,
      notes: cls.notes,
      bookable: cls.bookable,
      visible: cls.visible,
      product_id: cls.product_id,
      gym_id: cls.gym_id,
      reference: cls.reference,
      created_at: formatZonedUtc(cls.created_at),
      categories: cls.categories.map((id) => this.categoryView(id)),
    };
  }
}

/**
 * A slot as Wellhub answers it. POST, PUT and GET echo dates as written; the list answers them in UTC zoned form
 * (2021-03-09T07:00:00Z[UTC]), as the reference shows, so clients must compare instants, not strings.
 */
export function slotView(slot: SandboxSlot, zonedUtc = false) {
  const date = (value: string | undefined) => (value === undefined || !zonedUtc ? value : formatZonedUtc(Date.parse(value)));
  return {
    id: slot.id,
    class_id: slot.class_id,
    occur_date: date(slot.occur_date),
    status: slot.status ?? 1,
    room: slot.room,
    length_in_minutes: slot.length_in_minutes,
    total_capacity: slot.total_capacity,
    total_booked: slot.total_booked,
    product_id: slot.product_id,
    booking_window:
      slot.booking_window !== undefined
        ? { opens_at: date(slot.booking_window.opens_at), closes_at: date(slot.booking_window.closes_at) }
        : undefined,
    cancellable_until: date(slot.cancellable_until),
    instructors: slot.instructors ?? [],
    rating: slot.rating,
    virtual: slot.virtual ?? false,
    virtual_class_url: slot.virtual_class_url,
  };
}

export function bookingView(booking: SandboxBooking) {
  return {
    ...booking,
    requested_at: new Date(booking.requested_at).toISOString(),
    deadline_at: new Date(booking.deadline_at).toISOString(),
    history: booking.history.map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() })),
  };
}

function slugOf(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'class'
  );
}
