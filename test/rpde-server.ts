import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server publishing hand-made RPDE feeds (modified + id ordering) with switchable
 * faults, standing in for a third-party publisher in harvester tests.
 */
export interface FeedItem {
  id: string;
  modified: number;
  state: 'updated' | 'deleted';
  kind: string;
  data?: Record<string, unknown>;
  /** Publish this tombstone without `modified` (a fault seen in the wild). */
  omitModified?: boolean;
  /**
   * Published as this JSON text in place of the item (it is still ordered by `modified`/`id`):
   * for items JSON.stringify cannot make, e.g. 9,000-deep nesting, or that are not objects.
   */
  rawJson?: string;
}

export interface FeedFaults {
  /** Status codes to answer with, one per request, before behaving normally. */
  statuses?: number[];
  /** Answer every request with this status. */
  alwaysStatus?: number;
  invalidJson?: boolean;
  relativeNext?: boolean;
  /** Delay every response by this many ms. */
  delayMs?: number;
  /** Repeat the last item of each page at the start of the next page. */
  duplicateAcrossPages?: boolean;
  /** Every page's `next` points back at the first page (a loop). */
  loopToStart?: boolean;
  /** `next` links on this base instead of the server's own (e.g. a private address). */
  nextBase?: string;
}

export class RpdeTestServer {
  private server: http.Server;
  readonly feeds = new Map<string, { items: Map<string, FeedItem>; faults: FeedFaults; pageSize: number }>();
  requests = 0;
  /** Path and query of every request, in order. */
  readonly paths: string[] = [];
  base = '';
  /** Served as an HTML dataset site at /dataset when set. */
  dataset: Record<string, unknown> | null = null;

  constructor() {
    this.server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
  }

  /**
   * Publishes a dataset site at /dataset naming `feeds` (type → this server's feed name) and, as
   * its Open Booking API, `bookingEndpoint` (default `<base>/api/openbooking`); its URL.
   */
  publishDataset(name: string, feeds: Record<string, string>, options: { bookingEndpoint?: string } = {}): string {
    this.dataset = {
      '@context': ['https://schema.org/', 'https://openactive.io/'],
      '@type': 'Dataset',
      name,
      url: `${this.base}/dataset`,
      publisher: { '@type': 'Organization', name, url: 'https://publisher.test' },
      accessService: { '@type': 'WebAPI', endpointUrl: options.bookingEndpoint ?? `${this.base}/api/openbooking` },
      distribution: Object.entries(feeds).map(([type, feed]) => ({
        '@type': 'DataDownload',
        additionalType: `https://openactive.io/${type}`,
        encodingFormat: 'application/vnd.openactive.rpde+json; version=1',
        contentUrl: this.url(feed),
      })),
    };
    return `${this.base}/dataset`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  feed(name: string, pageSize = 3) {
    let f = this.feeds.get(name);
    if (!f) {
      f = { items: new Map(), faults: {}, pageSize };
      this.feeds.set(name, f);
    }
    return f;
  }

  url(name: string): string {
    return `${this.base}/feeds/${name}`;
  }

  private modifiedCounter = 1000;

  /** Publishes (or republishes) an item with a new, higher `modified`. */
  put(
    name: string,
    item: Omit<FeedItem, 'modified' | 'state'> & { modified?: number; state?: FeedItem['state'] },
  ): FeedItem {
    this.modifiedCounter += 1;
    const full: FeedItem = { state: 'updated', ...item, modified: item.modified ?? this.modifiedCounter };
    this.feed(name).items.set(item.id, full);
    return full;
  }

  remove(name: string, id: string, options: { omitModified?: boolean } = {}): void {
    const f = this.feed(name);
    const item = f.items.get(id);
    if (!item) return;
    this.modifiedCounter += 1;
    f.items.set(id, { id, kind: item.kind, state: 'deleted', modified: this.modifiedCounter, ...options });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.requests += 1;
    this.paths.push(req.url ?? '/');
    const url = new URL(req.url ?? '/', this.base);
    if (url.pathname === '/dataset' && this.dataset) {
      const json = JSON.stringify(this.dataset).replace(/</g, '\\u003c');
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><html><head><title>Dataset</title><script type="application/ld+json">${json}</script></head><body>Open data</body></html>`,
        );
      return;
    }
    const name = url.pathname.replace(/^\/feeds\//, '');
    const f = this.feeds.get(name);
    if (!f) {
      res.writeHead(404).end('not found');
      return;
    }
    const faults = f.faults;
    if (faults.delayMs) await new Promise((r) => setTimeout(r, faults.delayMs));
    const status = faults.statuses?.shift() ?? faults.alwaysStatus;
    if (status && status !== 200) {
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`status ${status}`);
      return;
    }
    if (faults.invalidJson) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items": [ oops');
      return;
    }
    const afterTimestamp = url.searchParams.has('afterTimestamp')
      ? Number(url.searchParams.get('afterTimestamp'))
      : null;
    const afterId = url.searchParams.get('afterId') ?? '';
    const sorted = [...f.items.values()].sort(
      (a, b) => a.modified - b.modified || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    const after = sorted.filter(
      (i) =>
        afterTimestamp === null || i.modified > afterTimestamp || (i.modified === afterTimestamp && i.id > afterId),
    );
    let page = after.slice(0, f.pageSize);
    if (faults.duplicateAcrossPages && afterTimestamp !== null) {
      const prev = sorted
        .filter((i) => i.modified < afterTimestamp || (i.modified === afterTimestamp && i.id <= afterId))
        .at(-1);
      if (prev) page = [prev, ...page];
    }
    const last = page.at(-1);
    let next = last
      ? `/feeds/${name}?afterTimestamp=${last.modified}&afterId=${encodeURIComponent(last.id)}`
      : `${url.pathname}${url.search}`;
    if (faults.loopToStart && page.length > 0) next = `/feeds/${name}`;
    const items = page.map((i) =>
      i.rawJson !== undefined
        ? i.rawJson
        : JSON.stringify(
            i.state === 'deleted'
              ? { state: 'deleted', kind: i.kind, id: i.id, ...(i.omitModified ? {} : { modified: i.modified }) }
              : { state: 'updated', kind: i.kind, id: i.id, modified: i.modified, data: i.data },
          ),
    );
    const nextUrl = faults.relativeNext ? next : `${faults.nextBase ?? this.base}${next}`;
    const body = `{"next":${JSON.stringify(nextUrl)},"items":[${items.join(',')}],"license":"https://creativecommons.org/licenses/by/4.0/"}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
}
