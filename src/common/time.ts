/** Keystone token times: 2015-11-09T01:42:57.527363Z (microseconds, Z). */
export function isoMicrosZ(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
/** RFC 3339 seconds with Z, as Nova's created/updated: 2024-01-01T00:00:00Z. */
export function isoSecondsZ(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
/** Cinder/Nova launched_at style without zone: 2024-01-01T00:00:00.000000. */
export function isoMicrosNoZ(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000');
}
/** Parses an ISO 8601 time; a time without a zone is UTC, as OpenStack services read it. */
export function parseIsoTime(text: string): number | null {
  const withZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? null : ms;
}

/** Epoch microseconds of an ISO 8601 time, keeping up to 6 fractional digits (Date keeps only 3). */
export function parseIsoMicros(text: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([zZ]|[+-]\d\d:?\d\d)?$/.exec(text.trim());
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3] ?? 'Z'}`);
  if (Number.isNaN(ms)) return null;
  const frac = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return ms * 1000 + Number(frac);
}

/** 2026-11-22T10:00:00.123456 (no zone), as Keystone writes application-credential expiry. */
export function isoMicrosFromMicros(us: number): string {
  const base = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19);
  return `${base}.${String(us % 1_000_000).padStart(6, '0')}`;
}
