import { ACTIVITY_LIST_ID, type ConceptRef, type Vocabularies } from '../../lib/vocabularies.js';

/**
 * Activity concept collections (imin §3.5.2): curated, hierarchy-independent sets of activities.
 * No collection is vendored with the activity list, so activehub defines its own; their ids are
 * URLs under the Events API that, when fetched, list the member activities. A search by a
 * collection matches its members and everything narrower than them (as `activityId` does).
 */
const DEFINITIONS = [
  {
    slug: 'team-sports',
    prefLabel: 'Team Sports',
    definition: 'Sports played in teams.',
    members: [
      'Football',
      'Basketball',
      'Netball',
      'Rugby Union',
      'Rugby League',
      'Hockey',
      'Volleyball',
      'Cricket',
      'Water Polo',
      'Handball',
      'Lacrosse',
      'Rounders',
    ],
  },
  {
    slug: 'racket-sports',
    prefLabel: 'Racket Sports',
    definition: 'Sports played with a racket or bat.',
    members: ['Tennis', 'Badminton', 'Squash', 'Table Tennis', 'Padel Tennis', 'Pickleball'],
  },
  {
    slug: 'water-sports',
    prefLabel: 'Water Sports',
    definition: 'Activities in or on the water.',
    members: [
      'Swimming',
      'Aqua Aerobics',
      'Water Polo',
      'Canoeing',
      'Kayaking',
      'Rowing',
      'Sailing',
      'Surfing',
      'Diving',
      'Stand Up Paddleboarding',
    ],
  },
  {
    slug: 'mind-and-body',
    prefLabel: 'Mind and Body',
    definition: 'Calm, holistic classes for flexibility, balance and wellbeing.',
    members: ['Yoga', 'Pilates', 'Tai Chi', 'Meditation', 'Qigong'],
  },
  {
    slug: 'cardio',
    prefLabel: 'Cardio',
    definition: 'Classes that raise the heart rate for a sustained period.',
    members: [
      'Indoor Cycling',
      'Aerobics',
      'Dance Fitness',
      'HIIT',
      'Running',
      'Indoor Rowing',
      'Circuit Training',
      'Step Aerobics',
      'Boxercise',
    ],
  },
  {
    slug: 'strength-and-conditioning',
    prefLabel: 'Strength and Conditioning',
    definition: 'Classes that build strength and muscular endurance.',
    members: [
      'Strength and Conditioning',
      'Weight Training',
      'Weightlifting',
      'Kettlebells',
      'Body Conditioning',
      'Circuit Training',
      'Bootcamp',
      'Powerlifting',
    ],
  },
] as const;

export interface ConceptCollection {
  slug: string;
  id: string;
  prefLabel: string;
  definition: string;
  members: ConceptRef[];
  /** Members and every narrower activity: what a search by the collection matches. */
  matchIds: string[];
}

export function createCollections(vocab: Vocabularies, eventsApiBase: string) {
  const list: ConceptCollection[] = DEFINITIONS.map((d) => {
    const members = d.members.map((label) => {
      const c = vocab.activityByLabel(label);
      if (!c) throw new Error(`Collection ${d.slug}: "${label}" is not in the activity list`);
      return c;
    });
    return {
      slug: d.slug,
      id: `${eventsApiBase}/activity-concept-collections/${d.slug}`,
      prefLabel: d.prefLabel,
      definition: d.definition,
      members,
      matchIds: [...new Set(members.flatMap((m) => vocab.activityWithNarrower(m.id)))],
    };
  });
  const byId = new Map(list.map((c) => [c.id, c]));
  return {
    all: () => list,
    byId: (id: string) => byId.get(id) ?? null,
    bySlug: (slug: string) => list.find((c) => c.slug === slug) ?? null,
    /** The facets / By-ID form of a collection (imin §3.5.2). */
    render(c: ConceptCollection, withMembers: boolean) {
      return {
        type: 'imin:ConceptCollection',
        id: c.id,
        prefLabel: c.prefLabel,
        definition: c.definition,
        'beta:publisher': 'activehub',
        inScheme: ACTIVITY_LIST_ID,
        ...(withMembers
          ? {
              'skos:member': c.members.map((m) => ({
                type: 'Concept',
                id: m.id,
                prefLabel: m.prefLabel,
                inScheme: m.inScheme,
              })),
            }
          : {}),
      };
    },
  };
}

export type Collections = ReturnType<typeof createCollections>;
