// Logical ids: how a resource kind names what it manages ("subnet/public/ap-northeast-1c"). They
// are stable across runs (the EC2 kinds write them into a tag), so every kind has exactly one
// scheme, defined in its own file: the ids its desired resources get and the ids it reads back in
// observe are made and parsed by that one scheme, and cannot drift apart.

/** A kind's namespace of logical ids: "<namespace>/<part>/…/<last part>". */
export interface IdScheme<K> {
  /** The start of every id of the scheme ("subnet"); a scheme without parts has this one id. */
  readonly namespace: string;
  /** The id of what `key` names. */
  id(key: K): string;
  /** The key `id` names, or undefined when `id` is not an id of this scheme. */
  parse(id: string): K | undefined;
}

export type SchemeKey<Parts extends readonly string[]> = { readonly [P in Parts[number]]: string };

/**
 * The scheme "<namespace>/<parts[0]>/…". Every part is non-empty; all but the last are free of "/",
 * and the last may hold "/" (a CIDR block "8.8.4.4/32", an IAM user path "ops/alice"), so an id is
 * read back unambiguously.
 */
export function idScheme<const Parts extends readonly string[]>(namespace: string, parts: Parts): IdScheme<SchemeKey<Parts>> {
  return {
    namespace,
    id(key) {
      const values = parts.map((part, i) => {
        const value = key[part as Parts[number]];
        if (!value || (i < parts.length - 1 && value.includes('/'))) {
          throw new Error(
            `internal: ${namespace} ids need a non-empty ${part}${i < parts.length - 1 ? ' without "/"' : ''}, not "${value}"`,
          );
        }
        return value;
      });
      return [namespace, ...values].join('/');
    },
    parse(id) {
      if (parts.length === 0) return id === namespace ? ({} as SchemeKey<Parts>) : undefined;
      if (!id.startsWith(`${namespace}/`)) return undefined;
      const segments = id.slice(namespace.length + 1).split('/');
      if (segments.length < parts.length) return undefined;
      const values = [...segments.slice(0, parts.length - 1), segments.slice(parts.length - 1).join('/')];
      if (values.some((v) => v === '')) return undefined;
      return Object.fromEntries(parts.map((part, i) => [part, values[i]!])) as SchemeKey<Parts>;
    },
  };
}
