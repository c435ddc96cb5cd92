// Test-only preload (`node --import ./test/clock-offset-preload.mjs ...`): moves this process's wall clock by
// TEST_CLOCK_OFFSET_MS milliseconds, as a misconfigured system clock would. Monotonic time (performance.now) is
// left alone, as it is when a wall clock is wrong.
const offsetMs = Number(process.env.TEST_CLOCK_OFFSET_MS ?? '0');
if (Number.isFinite(offsetMs) && offsetMs !== 0) {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
}
