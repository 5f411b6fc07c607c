/**
 * Every value of header `name` (lower case) in Node's `rawHeaders` list. A request with two credentials must be
 * refused rather than judged on one of them, and Node's `headers` object keeps only the first Authorization (and joins
 * other repeats with ", "). `headersDistinct` would tell, but it builds arrays for every header of every request; the
 * raw list is scanned for this one header instead.
 */
export function rawHeaderValues(raw: readonly string[], name: string): string | string[] | undefined {
  let found: string | string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    const value = raw[i + 1] as string;
    if (found === undefined) found = value;
    else if (typeof found === 'string') found = [found, value];
    else found.push(value);
  }
  return found;
}
