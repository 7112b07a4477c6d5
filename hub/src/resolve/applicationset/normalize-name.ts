// Argo CD's name normalisers: SanitizeName (the `normalize` template function and the
// `nameNormalized` / `*Normalized` generator params) and SlugifyName (the `slugify` function,
// gosimple/slug over a sanitised name).

const MAX_DNS_NAME_LENGTH = 253;

/** Lowercase, every character outside [-a-z0-9.] becomes "-", at most 253 characters, no leading or trailing "-" or ".". */
export function normalizeName(name: string): string {
  const replaced = name.toLowerCase().replace(/[^-a-z0-9.]/gu, "-");
  return replaced.slice(0, MAX_DNS_NAME_LENGTH).replace(/^[-.]+|[-.]+$/g, "");
}

/**
 * A URL-safe slug of at most `maxLength` characters (default 50). With smart truncation (the
 * default) the slug is cut at the last "-" that fits, else at `maxLength`.
 */
export function slugifyName(name: string, maxLength = 50, smartTruncate = true): string {
  let slug = normalizeName(name).trim();
  if (!smartTruncate && slug.length >= maxLength) slug = slug.slice(0, Math.max(maxLength, 0));
  slug = slug
    .replace(/[^a-zA-Z0-9\-_]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^[-_]+|[-_]+$/g, "");
  if (maxLength > 0 && smartTruncate && slug.length > maxLength) {
    const cut = slug.lastIndexOf("-", maxLength);
    slug = cut >= 0 ? slug.slice(0, cut) : slug.slice(0, maxLength);
  }
  return slug;
}
