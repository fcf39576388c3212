import { readFileSync } from 'node:fs';
import skos from '@openactive/skos';

/**
 * The OpenActive Activity List and Facility Types, vendored under vendor/openactive (loaded from
 * disk, never fetched). Wrapped with @openactive/skos for the broader/narrower hierarchy.
 */
export const ACTIVITY_LIST_ID = 'https://openactive.io/activity-list';
export const FACILITY_TYPES_ID = 'https://openactive.io/facility-types';

export interface ConceptRef {
  id: string;
  prefLabel: string;
  inScheme: string;
}

interface SkosConcept {
  id: string;
  prefLabel: string;
  getBroaderTransitive(): SkosConcept[];
  getNarrowerTransitive(): SkosConcept[];
}
interface SkosScheme {
  getConceptByID(id: string): SkosConcept | null;
  getConceptByLabel(label: string): SkosConcept | null;
  getAllConcepts(): SkosConcept[];
  getTopConcepts(): SkosConcept[];
}

function load(file: string): { json: Record<string, unknown>; scheme: SkosScheme } {
  const json = JSON.parse(readFileSync(new URL(`../../vendor/openactive/${file}`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
  const Scheme = (skos as unknown as { ConceptScheme: new (j: unknown) => SkosScheme }).ConceptScheme;
  return { json, scheme: new Scheme(json) };
}

export function createVocabularies() {
  const activities = load('activity-list.jsonld');
  const facilityTypes = load('facility-types.jsonld');
  const labelIndex = new Map<string, SkosConcept>();
  for (const c of activities.scheme.getAllConcepts()) labelIndex.set(c.prefLabel.toLowerCase(), c);

  const ref = (c: SkosConcept, inScheme: string): ConceptRef => ({ id: c.id, prefLabel: c.prefLabel, inScheme });

  return {
    activityListJson: activities.json,
    facilityTypesJson: facilityTypes.json,
    /**
     * Resolves an activity as published: by `@id`/`id` (also accepting the legacy
     * `…/activity-list.jsonld#` and `www.` forms), else by `prefLabel` (case-insensitive), for
     * publishers that send only a label.
     */
    resolveActivity(value: { id?: string | undefined; prefLabel?: string | undefined }): ConceptRef | null {
      if (value.id) {
        const canonical = value.id.replace(
          /^https?:\/\/(www\.)?openactive\.io\/activity-list(\/activity-list\.jsonld)?#/,
          `${ACTIVITY_LIST_ID}#`,
        );
        const c = activities.scheme.getConceptByID(canonical);
        if (c) return ref(c, ACTIVITY_LIST_ID);
      }
      if (value.prefLabel) {
        const c = labelIndex.get(value.prefLabel.trim().toLowerCase());
        if (c) return ref(c, ACTIVITY_LIST_ID);
      }
      return null;
    },
    /** The activity and every broader one: what a search for any of them should match. */
    activityWithBroader(id: string): string[] {
      const c = activities.scheme.getConceptByID(id);
      if (!c) return [id];
      return [c.id, ...c.getBroaderTransitive().map((b) => b.id)];
    },
    activityWithNarrower(id: string): string[] {
      const c = activities.scheme.getConceptByID(id);
      if (!c) return [];
      return [c.id, ...c.getNarrowerTransitive().map((n) => n.id)];
    },
    activityById(id: string): ConceptRef | null {
      const c = activities.scheme.getConceptByID(id);
      return c ? ref(c, ACTIVITY_LIST_ID) : null;
    },
    activityByLabel(label: string): ConceptRef | null {
      const c = labelIndex.get(label.trim().toLowerCase());
      return c ? ref(c, ACTIVITY_LIST_ID) : null;
    },
    allActivities(): ConceptRef[] {
      return activities.scheme.getAllConcepts().map((c) => ref(c, ACTIVITY_LIST_ID));
    },
    facilityTypeById(id: string): ConceptRef | null {
      const c = facilityTypes.scheme.getConceptByID(id);
      return c ? ref(c, FACILITY_TYPES_ID) : null;
    },
    allFacilityTypes(): ConceptRef[] {
      return facilityTypes.scheme.getAllConcepts().map((c) => ref(c, FACILITY_TYPES_ID));
    },
  };
}

export type Vocabularies = ReturnType<typeof createVocabularies>;
