/**
 * Store outage episodes (src/stores/episode.ts): one line per real change, and a bounded number of lines for a store
 * that fails and answers by turns (a partly failed Redis Cluster), on a clock the test moves.
 */
import { Episode, type EpisodeChange } from '../../src/stores/episode.js';

function clocked(): { episode: Episode; at: (ms: number) => void } {
  let now = 1_000_000;
  const episode = new Episode({ quietMs: 5000, noticeMs: 30_000, now: () => now });
  return { episode, at: (ms) => (now = 1_000_000 + ms) };
}

test('an outage: degraded once however many calls fail, recovered once at the first answer', () => {
  const { episode, at } = clocked();
  expect(episode.success()).toBeUndefined();
  at(10);
  expect(episode.failure()).toBe('degraded');
  for (let ms = 20; ms < 3000; ms += 100) {
    at(ms);
    expect(episode.failure()).toBeUndefined();
  }
  at(3000);
  expect(episode.success()).toBe('recovered');
  expect(episode.reported).toBe(0);
  expect(episode.failing).toBe(false);
  expect(episode.success()).toBeUndefined();
});

test('a store failing every other call: degraded, recovered, then one flapping notice per 30 s, not a pair per call', () => {
  const { episode, at } = clocked();
  const changes: EpisodeChange[] = [];
  for (let ms = 0; ms < 65_000; ms += 10) {
    at(ms);
    changes.push(ms % 20 === 0 ? episode.failure() : episode.success());
    // The state still follows the calls: readiness shows the truth even while the log is quiet.
    expect(episode.failing).toBe(ms % 20 === 0);
  }
  const logged = changes.filter((change) => change !== undefined);
  expect(logged).toEqual(['degraded', 'recovered', 'flapping', 'flapping', 'flapping']);
  expect(episode.flaps).toBeGreaterThan(3000);
});

test('flapping ends with one recovery line, counting the flaps, once no call has failed for the quiet period', () => {
  const { episode, at } = clocked();
  at(0);
  episode.failure();
  at(10);
  episode.success();
  for (let i = 0; i < 5; i++) {
    at(20 + 20 * i);
    episode.failure();
    at(30 + 20 * i);
    expect(episode.success()).toBeUndefined(); // a flap ends silently
  }
  expect(episode.flaps).toBe(5);
  at(5000);
  expect(episode.success()).toBeUndefined(); // 4.9 s since the last failure: not quiet yet
  at(5200);
  expect(episode.success()).toBe('recovered');
  expect(episode.reported).toBe(5);
  expect(episode.flaps).toBe(0);
  at(20_000);
  expect(episode.failure()).toBe('degraded'); // long after: a new outage, logged as one
});

test('a failure soon after a recovery is a flap, told by a notice rather than a second outage', () => {
  const { episode, at } = clocked();
  at(0);
  expect(episode.failure()).toBe('degraded');
  at(1000);
  expect(episode.success()).toBe('recovered');
  at(2000);
  expect(episode.failure()).toBe('flapping');
  expect(episode.reported).toBe(1);
});

test('consecutive failures keep the flapping from ending until the last of them is quiet long enough', () => {
  const { episode, at } = clocked();
  at(0);
  episode.failure();
  at(10);
  episode.success();
  at(20);
  episode.failure(); // flap
  for (let ms = 30; ms <= 8000; ms += 100) {
    at(ms);
    episode.failure();
  }
  at(8100);
  expect(episode.success()).toBeUndefined(); // the flap's end
  at(12_000);
  expect(episode.success()).toBeUndefined(); // 4 s after the last failure
  at(13_100);
  expect(episode.success()).toBe('recovered');
});
