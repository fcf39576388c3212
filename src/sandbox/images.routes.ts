import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { unknownEndpoint } from './errors.js';

const PALETTE = ['#0b6e4f', '#1f5fa8', '#b5452b', '#7a3e9d', '#c48a00', '#1c7c8c', '#a3324f', '#3f6b2a'];

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i += 1) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  return h;
}

const label = (name: string) =>
  name
    .replace(/^logo-/, '')
    .split('-')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join(' ');

/**
 * `GET /images/:name.svg`: simple generated pictures (a coloured card with a label) for the
 * images and logos the generated data refers to, so every URL in the data resolves offline.
 */
export function imageRoutes(): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/images/:file',
      { schema: { params: Type.Object({ file: Type.String({ maxLength: 100 }) }) } },
      async (request, reply) => {
        const { file } = request.params as { file: string };
        const m = /^([a-z0-9-]+)\.svg$/.exec(file);
        if (!m) throw unknownEndpoint('GET', `/images/${file}`);
        const name = m[1]!;
        const logo = name.startsWith('logo-');
        const [w, h] = logo ? [240, 240] : [1200, 800];
        const colour = PALETTE[hash(name) % PALETTE.length]!;
        const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
<rect width="100%" height="100%" fill="${colour}"/>
<circle cx="${w * 0.8}" cy="${h * 0.2}" r="${Math.min(w, h) * 0.35}" fill="#ffffff" fill-opacity="0.12"/>
<text x="50%" y="54%" text-anchor="middle" font-family="system-ui, sans-serif" font-size="${logo ? 28 : 64}" fill="#fff">${label(name)}</text>
</svg>`;
        void reply.header('cache-control', 'public, max-age=86400');
        await reply.type('image/svg+xml').send(svg);
      },
    );
  };
}
