/*
 * Personal data inside documents we keep from sellers and send to them (the response to B, the B
 * request kept for recovery). Erasure (DECISIONS §4) must reach these copies too: every Person in
 * them — wherever the seller put it — becomes the placeholder, and the answers to a seller's
 * questions about the attendee (additional details, intake forms) are dropped. What the Orders API
 * reads from these documents (items, their taxes and status, totals, the opportunity) stays.
 */

const PERSON_TYPES = new Set(['Person', 'schema:Person', 'https://schema.org/Person']);
/** Properties that hold a person whoever typed them (a seller may omit the @type). */
const PERSON_PROPERTIES = new Set(['customer', 'attendee']);
/** Answers about the attendee (openactive.md: additional details / intake form responses). */
const ANSWER_PROPERTIES = new Set(['additionalDetailsCaptured', 'orderItemIntakeFormResponse', 'attendeeDetails']);

function isPerson(value: Record<string, unknown>): boolean {
  const type = value['@type'] ?? value.type;
  return typeof type === 'string' && PERSON_TYPES.has(type);
}

/** A copy of `value` with every Person replaced by `placeholder` and attendee answers removed. */
export function withoutPersonalData(value: unknown, placeholder: Record<string, unknown>): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutPersonalData(v, placeholder));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if (isPerson(obj)) return { '@type': 'Person', ...placeholder };
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(obj)) {
    if (ANSWER_PROPERTIES.has(key)) continue;
    if (PERSON_PROPERTIES.has(key) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      out[key] = { '@type': 'Person', ...placeholder };
      continue;
    }
    out[key] = withoutPersonalData(v, placeholder);
  }
  return out;
}
