/**
 * The range a slot list covers. The reference: "If no from/to is informed, we will return all slots on that day",
 * read as: a missing bound is the start or end of the other bound's day (in its offset), and with neither, the
 * current UTC day.
 */
export function listRange(from: string | undefined, to: string | undefined, now: number): [number, number] {
  const dayOf = (iso: string | undefined): [number, number] => {
    const offsetMs = iso !== undefined ? offsetMillis(iso) : 0;
    const instant = iso !== undefined ? Date.parse(iso) : now;
    const local = instant + offsetMs;
    const start = local - (((local % 86_400_000) + 86_400_000) % 86_400_000) - offsetMs;
    return [start, start + 86_400_000 - 1];
  };
  if (from !== undefined && to !== undefined) return [Date.parse(from), Date.parse(to)];
  if (from !== undefined) return [Date.parse(from), dayOf(from)[1]];
  if (to !== undefined) return [dayOf(to)[0], Date.parse(to)];
  return dayOf(undefined);
}

function offsetMillis(iso: string): number {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(iso);
  if (!match) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return (match[1] === '-' ? -minutes : minutes) * 60_000;
}
