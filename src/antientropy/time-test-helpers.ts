// A clock and timers for unit tests of the throttle and the adaptive rate: time moves only when a sleep is
// awaited (by exactly its length) or when the test advances it, and every sleep is recorded.

export function steppedTime() {
  let now = 0;
  const waits: number[] = [];
  const clock = { now: () => now };
  const timers = {
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
    schedule: () => () => {},
  };
  const advance = (ms: number): void => {
    now += ms;
  };
  return { clock, timers, waits, advance };
}
