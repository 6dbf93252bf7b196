/** Column codecs shared by every table: JSON stored as text, booleans as 0/1 on SQLite and TINYINT on MariaDB. */
export const toJson = (v: unknown): string => JSON.stringify(v ?? null);

export function fromJson<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string' || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export const toBool = (v: unknown): boolean => v === true || v === 1 || v === '1';

/** True when a driver error is a unique-key violation (SQLite or MariaDB). */
export function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; message?: string };
  return (
    e?.code === 'ER_DUP_ENTRY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    /UNIQUE constraint failed/.test(e?.message ?? '')
  );
}
