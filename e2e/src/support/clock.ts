/** A clock that tests move forward: real time plus an offset. */
export function movableClock(): { clock: () => number; advance: (seconds: number) => void } {
  let offset = 0;
  return { clock: () => Date.now() + offset, advance: (seconds) => (offset += seconds * 1000) };
}
