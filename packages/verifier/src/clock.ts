/** A source of the current time in milliseconds since the epoch. Injected so that tests freeze time. */
export type Clock = () => number;

/** The wall clock. */
export const systemClock: Clock = () => Date.now();
