/*
 * A very small HTML template helper. `markup\`…\`` returns a `SafeHtml`; every interpolated value is
 * escaped unless it is itself `SafeHtml` (built by this helper) or an array of those. There is no
 * way to mark a plain string as safe except `trustedHtml`, which is used only for markup we
 * generate ourselves from validated input (the barcode picture).
 */

const SAFE = Symbol('safe-html');

export interface SafeHtml {
  readonly [SAFE]: true;
  readonly value: string;
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for element content and for quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function isSafe(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && (value as Partial<SafeHtml>)[SAFE] === true;
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (typeof value === 'string') return escapeHtml(value);
  if (typeof value === 'number' || typeof value === 'boolean') return escapeHtml(String(value));
  if (isSafe(value)) return value.value;
  return value.map(render).join('');
}

export function trustedHtml(markup: string): SafeHtml {
  return { [SAFE]: true, value: markup };
}

export function markup(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i += 1) out += render(values[i]) + (strings[i + 1] ?? '');
  return trustedHtml(out);
}

/** An http(s) URL as given, or null for anything else (javascript:, data:, relative, malformed). */
export function safeUrl(value: string | null | undefined): string | null {
  if (!value || value.length > 2000) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

const HEX_COLOUR = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
const NUMBER = String.raw`\s*-?(?:\d{1,3}(?:\.\d{1,4})?)%?\s*`;
const FUNCTION_COLOUR = new RegExp(
  String.raw`^(?:rgb|rgba|hsl|hsla)\(${NUMBER}(?:,${NUMBER}){2}(?:,\s*(?:0|1|0?\.\d{1,4}|\d{1,3}%)\s*)?\)$`,
  'i',
);
const NAMED_COLOUR = /^[a-z]{3,20}$/i;

/**
 * A CSS colour we are willing to put into a style sheet: #hex, rgb()/hsl() with plain numbers, or
 * a bare colour keyword. Anything else (quotes, semicolons, braces, url(), var()) is rejected, so a
 * broker's stored value can never break out of the declaration it is placed in.
 */
export function safeColour(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.trim();
  if (HEX_COLOUR.test(v) || FUNCTION_COLOUR.test(v) || NAMED_COLOUR.test(v)) return v;
  return null;
}

const EMAIL = /^[^\s@<>"'`,;:()[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/;

export function safeEmail(value: string | null | undefined): string | null {
  return value && value.length <= 254 && EMAIL.test(value) ? value : null;
}
