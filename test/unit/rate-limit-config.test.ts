/** One fixture per rate-limit config error: each names the file, the line and the field. */
import { ConfigError } from '../../src/config/config-error.js';
import { loadFixture } from '../helpers/config.js';

const loading = (file: string) => (): unknown => loadFixture(file);

test.each([
  [
    'rate-limit-unknown-policy.yaml',
    /rate-limit-unknown-policy\.yaml:7:.*unknown rate-limit policy "per-clinet" \(defined under rateLimits: per-client\)/,
  ],
  ['rate-limit-fractional-window.yaml', /rate-limit-fractional-window\.yaml:4:.*window.*whole number of seconds/],
  ['rate-limit-bad-key.yaml', /rate-limit-bad-key\.yaml:3:.*key.*ip, route or header:<Header-Name>/],
  ['rate-limit-bad-fallback.yaml', /rate-limit-bad-fallback\.yaml:5:.*onStoreError/],
  ['rate-limit-zero-share.yaml', /rate-limit-zero-share\.yaml:5:.*localShare/],
  ['rate-limit-no-policy.yaml', /rate-limit-no-policy\.yaml:4:.*rateLimit.*needs options/],
  ['rate-limit-unknown-key.yaml', /rate-limit-unknown-key\.yaml:2:.*windw/],
])('%s is rejected with its location', (file, expected) => {
  expect(loading(file)).toThrow(ConfigError);
  expect(loading(file)).toThrow(expected);
});
