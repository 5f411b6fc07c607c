/** Bounds of a numeric option; see {@link numberOption}. */
export interface NumberBounds {
  /** Smallest value allowed. Default 0 (durations and sizes are never negative). */
  min?: number;
  /** Only whole numbers (counts, sizes). Default false. */
  integer?: boolean;
}

/**
 * Validates a numeric constructor option as jose does: `undefined` takes the default; NaN, an infinity, a value below
 * `min` or (for counts) a fraction throws a `TypeError` naming the option, at construction rather than on a request.
 */
export function numberOption(
  name: string,
  value: number | undefined,
  fallback: number,
  bounds: NumberBounds = {},
): number {
  if (value === undefined) return fallback;
  const min = bounds.min ?? 0;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    (bounds.integer && !Number.isInteger(value))
  ) {
    throw new TypeError(
      `${name} must be ${bounds.integer ? 'an integer' : 'a finite number'} ≥ ${min}, got ${String(value)}`,
    );
  }
  return value;
}
