export const OPENACTIVE_CONTEXT = 'https://openactive.io/';
export const IMIN_CONTEXT = 'https://imin.co/';
export const COMPLETED_ACTION_STATUS = 'https://schema.org/CompletedActionStatus';

/**
 * Drops null/undefined values and empty arrays, recursively (DECISIONS §3: "fields whose value
 * is null and empty arrays are omitted").
 */
type NullableKeys<T> = { [K in keyof T]-?: null extends T[K] ? K : undefined extends T[K] ? K : never }[keyof T];

/** `T` with null-able properties made optional and non-null, recursively. */
export type Compact<T> = T extends Date
  ? T
  : T extends readonly (infer U)[]
    ? Compact<U>[]
    : T extends object
      ? { [K in Exclude<keyof T, NullableKeys<T>>]: Compact<T[K]> } & {
          [K in NullableKeys<T>]?: Compact<NonNullable<T[K]>>;
        }
      : T;

export function compact<T>(value: T): Compact<T> {
  if (Array.isArray(value)) return value.map((v: unknown) => compact(v)) as Compact<T>;
  if (value === null || typeof value !== 'object' || value instanceof Date) return value as Compact<T>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = compact(v);
  }
  return out as Compact<T>;
}
