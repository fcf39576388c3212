import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { DateTime } from 'luxon';
import { Type } from 'typebox';
import type { SandboxDeps } from './app.js';
import { unknownEndpoint } from './errors.js';
import { findBookable, findSeller } from './opportunities.js';
import { renderFacilityUse, renderPlace, renderSessionSeries, withBase, type JsonObject } from './render.js';

/*
 * The public web pages the data links to (`url` of sellers, venues, series, sessions and
 * facilities; sellers' terms). Small, plain pages, each with the entity's JSON-LD embedded, so
 * that every link a person or a broker follows from the data lands somewhere real.
 */

const esc = (s: unknown) =>
  (typeof s === 'string' || typeof s === 'number' ? String(s) : '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

const json = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

const when = (iso: string) => DateTime.fromISO(iso, { zone: 'Europe/London' }).toFormat("cccc d LLLL yyyy 'at' HH:mm");

function page(title: string, body: string, jsonld?: JsonObject): string {
  return `<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
${jsonld ? `<script type="application/ld+json">${json(jsonld)}</script>` : ''}
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2733}
dt{font-weight:600;margin-top:.6rem}a{color:#0b6e4f}.muted{color:#667}</style></head>
<body><p class="muted"><a href="/openactive">Activehub Sandbox Leisure Network</a></p><h1>${esc(title)}</h1>${body}</body></html>`;
}

const address = (place: JsonObject | undefined) => {
  const a = place?.address as JsonObject | undefined;
  return a ? [a.streetAddress, a.addressLocality, a.postalCode].filter(Boolean).map(esc).join(', ') : '';
};

const offersList = (offers: JsonObject[] | undefined) =>
  (offers ?? [])
    .map((o) => `<li>${esc(o.name)}: ${Number(o.price) === 0 ? 'free' : `£${Number(o.price).toFixed(2)}`}</li>`)
    .join('');

async function send(reply: FastifyReply, html: string): Promise<void> {
  void reply.header('cache-control', 'public, max-age=300');
  await reply.type('text/html; charset=utf-8').send(html);
}

const Id = Type.String({ pattern: '^[1-9][0-9]{0,9}$' });

export function pageRoutes(deps: SandboxDeps): FastifyPluginAsyncTypebox {
  const { db, urls } = deps;
  const notFound = (path: string) => unknownEndpoint('GET', path);
  return async (app) => {
    app.get('/sellers/:id', { schema: { params: Type.Object({ id: Id }) } }, async (request, reply) => {
      const seller = await findSeller(db, urls, urls.seller(Number(request.params.id)));
      if (!seller) throw notFound(request.url);
      const s = seller.jsonld;
      await send(
        reply,
        page(
          seller.name,
          `<p>${esc(s.description)}</p><dl><dt>Registered name</dt><dd>${esc(s.legalName)}</dd>
<dt>Contact</dt><dd>${esc(s.telephone)} · ${esc(s.email)}</dd>
<dt>Prices</dt><dd>${seller.taxMode.endsWith('TaxNet') ? 'shown excluding VAT' : 'include VAT'}</dd></dl>
<p><a href="${esc(urls.base)}/sellers/${seller.id}/terms">Terms and conditions</a></p>`,
          s,
        ),
      );
    });

    app.get('/sellers/:id/terms', { schema: { params: Type.Object({ id: Id }) } }, async (request, reply) => {
      const seller = await findSeller(db, urls, urls.seller(Number(request.params.id)));
      if (!seller) throw notFound(request.url);
      await send(
        reply,
        page(
          `${seller.name}: terms and conditions`,
          `<ol><li>Bookings are made with ${esc(seller.jsonld.legalName)}.</li>
<li>Cancel before the time shown on your booking for a full refund; later cancellations are not refunded unless the session is cancelled by us.</li>
<li>Please arrive ten minutes before the start. Late arrivals may not be admitted for safety reasons.</li>
<li>Junior offers are for the ages shown; proof of age may be requested.</li>
<li>This is a sandbox: no real bookings or payments are made.</li></ol>`,
        ),
      );
    });

    app.get('/venues/:id', { schema: { params: Type.Object({ id: Id }) } }, async (request, reply) => {
      const row = await db
        .selectFrom('places')
        .selectAll()
        .where('id', '=', Number(request.params.id))
        .where('deleted', '=', false)
        .executeTakeFirst();
      if (!row) throw notFound(request.url);
      const place = renderPlace(urls, row);
      const amenities = ((place.amenityFeature as JsonObject[] | undefined) ?? []).map((a) => esc(a.name)).join(', ');
      await send(
        reply,
        page(
          String(place.name),
          `<p>${esc(place.description)}</p><dl><dt>Address</dt><dd>${address(place)}</dd>
<dt>Telephone</dt><dd>${esc(place.telephone)}</dd><dt>Facilities</dt><dd>${amenities}</dd></dl>`,
          place,
        ),
      );
    });

    app.get('/session-series/:id', { schema: { params: Type.Object({ id: Id }) } }, async (request, reply) => {
      const series = await db
        .selectFrom('session_series')
        .selectAll()
        .where('id', '=', Number(request.params.id))
        .where('deleted', '=', false)
        .executeTakeFirst();
      if (!series) throw notFound(request.url);
      const [seller, place, offers, upcoming] = await Promise.all([
        db.selectFrom('sellers').selectAll().where('id', '=', series.seller_id).executeTakeFirstOrThrow(),
        series.place_id === null
          ? Promise.resolve(undefined)
          : db.selectFrom('places').selectAll().where('id', '=', series.place_id).executeTakeFirst(),
        db
          .selectFrom('offers')
          .selectAll()
          .where('session_series_id', '=', series.id)
          .where('deleted', '=', false)
          .execute(),
        db
          .selectFrom('scheduled_sessions')
          .select(['id', 'start_date', 'remaining_attendee_capacity', 'event_status'])
          .where('session_series_id', '=', series.id)
          .where('deleted', '=', false)
          .where('start_date', '>', deps.clock.now())
          .orderBy('start_date')
          .limit(10)
          .execute(),
      ]);
      const data = renderSessionSeries(urls, { series, seller, place, offers });
      const sessions = upcoming
        .map(
          (s) =>
            `<li><a href="${esc(urls.base)}/scheduled-sessions/${s.id}">${esc(when(new Date(s.start_date).toISOString()))}</a> — ${
              s.event_status.endsWith('EventCancelled')
                ? 'cancelled'
                : s.remaining_attendee_capacity === 0
                  ? 'full'
                  : `${s.remaining_attendee_capacity} spaces`
            }</li>`,
        )
        .join('');
      const location = data.location as JsonObject | undefined;
      await send(
        reply,
        page(
          String(data.name),
          `<p>${esc(data.description)}</p><dl><dt>Where</dt><dd>${location ? `${esc(location.name)}, ${address(location)}` : 'Online'}</dd>
<dt>Run by</dt><dd>${esc((data.organizer as JsonObject).name)}</dd><dt>Prices</dt><dd><ul>${offersList(data.offers as JsonObject[])}</ul></dd>
<dt>Coming up</dt><dd><ul>${sessions || '<li>No upcoming sessions</li>'}</ul></dd></dl>`,
          data,
        ),
      );
    });

    app.get('/scheduled-sessions/:id', { schema: { params: Type.Object({ id: Id }) } }, async (request, reply) => {
      const opp = await findBookable(db, urls, urls.scheduledSession(Number(request.params.id)));
      if (!opp) throw notFound(request.url);
      const superEvent = opp.orderedItem.superEvent as JsonObject;
      await send(
        reply,
        page(
          `${opp.parent.name}, ${when(opp.startDate.toISOString())}`,
          `<dl><dt>Status</dt><dd>${opp.eventStatus.endsWith('EventCancelled') ? 'Cancelled' : opp.remainingCapacity === 0 ? 'Full' : `${opp.remainingCapacity} of ${opp.maximumCapacity} spaces left`}</dd>
<dt>Where</dt><dd>${superEvent.location ? address(superEvent.location as JsonObject) : 'Online'}</dd>
<dt>Prices</dt><dd><ul>${offersList(opp.offers.map((o) => o.jsonld))}</ul></dd></dl>
<p><a href="${esc(superEvent.url)}">About ${esc(opp.parent.name)}</a></p>`,
          { ...opp.feedData, superEvent: opp.parent['@id'] },
        ),
      );
    });

    const facilityPage = async (
      facilityUseId: number,
      individualId: number | undefined,
      path: string,
      reply: FastifyReply,
    ) => {
      const fu = await db
        .selectFrom('facility_uses')
        .selectAll()
        .where('id', '=', facilityUseId)
        .where('deleted', '=', false)
        .executeTakeFirst();
      if (!fu) throw notFound(path);
      const [seller, place, individual] = await Promise.all([
        db.selectFrom('sellers').selectAll().where('id', '=', fu.seller_id).executeTakeFirstOrThrow(),
        db.selectFrom('places').selectAll().where('id', '=', fu.place_id).executeTakeFirstOrThrow(),
        db
          .selectFrom('individual_facility_uses')
          .selectAll()
          .where('facility_use_id', '=', fu.id)
          .orderBy('id')
          .execute(),
      ]);
      const data = renderFacilityUse(urls, { facilityUse: fu, seller, place, individualFacilityUses: individual });
      const units = (data.individualFacilityUse as JsonObject[] | undefined) ?? [];
      const unit =
        individualId === undefined
          ? undefined
          : units.find((u) => u['@id'] === urls.individualFacilityUse(fu.id, individualId));
      if (individualId !== undefined && !unit) throw notFound(path);
      const location = data.location as JsonObject;
      await send(
        reply,
        page(
          String(unit?.name ?? data.name),
          `<p>${esc(data.description)}</p><dl><dt>Where</dt><dd>${esc(location.name)}, ${address(location)}</dd>
<dt>Bookable</dt><dd><ul>${units.map((u) => `<li><a href="${esc(u.url)}">${esc(u.name)}</a></li>`).join('')}</ul></dd></dl>`,
          unit ? withBase({ ...unit, aggregateFacilityUse: data['@id'] }, urls.base) : data,
        ),
      );
    };

    app.get('/facility-uses/:id', { schema: { params: Type.Object({ id: Id }) } }, async (request, reply) => {
      await facilityPage(Number(request.params.id), undefined, request.url, reply);
    });
    app.get(
      '/facility-uses/:id/individual-facility-uses/:iid',
      { schema: { params: Type.Object({ id: Id, iid: Id }) } },
      async (request, reply) => {
        await facilityPage(Number(request.params.id), Number(request.params.iid), request.url, reply);
      },
    );
  };
}
