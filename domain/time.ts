/** The UTC offset an ISO 8601 timestamp was written with: "+01:00", or "+00:00" for "Z". */
export function offsetOf(iso: string): string {
  const match = /([+-]\d{2}):?(\d{2})$/.exec(iso);
  if (match) return `${match[1]}:${match[2]}`;
  if (/z$/i.test(iso)) return '+00:00';
  throw new Error(`timestamp has no UTC offset: ${iso}`);
}

function offsetMinutes(offset: string): number {
  const match = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!match) throw new Error(`invalid UTC offset: ${offset}`);
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/** Formats an instant in a fixed offset, e.g. 2026-12-01T18:00:00+01:00 (the form Wellhub wants for slots). */
export function formatInOffset(instant: Date, offset: string): string {
  const shifted = new Date(instant.getTime() + offsetMinutes(offset) * 60_000);
  return `${shifted.toISOString().slice(0, 19)}${offset}`;
}
